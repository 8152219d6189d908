"""The SIA paper's other tasks: trimul (a Triton kernel) and scrna-denoise (real 10x counts)."""
