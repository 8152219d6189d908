#!/usr/bin/env python3
"""Reference harness for trimul: submits the PyTorch reference itself (speedup 1.0).

An improved harness asks the task model (SIA_BASE_URL, SIA_MODEL) to write a faster
`custom_kernel` (Triton and/or PyTorch) and writes it to working_dir/submission.py.

The constants marked `# sia-knob:` are what sia's offline harness lever tunes; their
values here reproduce the original reference (the PyTorch reference submitted as it
is). METHOD "triton" submits the reference with its triangle contraction
(h[i, j] = sum_k left[i, k] * right[j, k], per channel) done by a Triton kernel whose
launch configuration is the other knobs: block sizes, warps and pipeline stages. Only
timing on CUDA tells launch configurations apart: on a CPU every correct kernel scores
the same (the evaluator checks correctness under Triton's interpreter), so sia does not
search them there.
"""

import argparse
from pathlib import Path

METHOD = "reference"  # sia-knob: choice reference|triton
BLOCK_M = "32"  # sia-knob: choice 16|32|64|128
BLOCK_N = "32"  # sia-knob: choice 16|32|64|128
BLOCK_K = "32"  # sia-knob: choice 16|32|64
NUM_WARPS = "4"  # sia-knob: choice 2|4|8
NUM_STAGES = "2"  # sia-knob: choice 1|2|3|4

KERNEL = '''

import triton
import triton.language as tl


@triton.jit
def _contract(L, R, H, n, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    batch = tl.program_id(2)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    base = batch * n * n
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for start in range(0, n, BLOCK_K):
        ks = start + tl.arange(0, BLOCK_K)
        a = tl.load(L + base + rows[:, None] * n + ks[None, :],
                    mask=(rows[:, None] < n) & (ks[None, :] < n), other=0.0)
        b = tl.load(R + base + cols[None, :] * n + ks[:, None],
                    mask=(cols[None, :] < n) & (ks[:, None] < n), other=0.0)
        acc += tl.dot(a, b, input_precision="ieee")
    tl.store(H + base + rows[:, None] * n + cols[None, :], acc,
             mask=(rows[:, None] < n) & (cols[None, :] < n))


def _triangle(left, right):
    """h[b, i, j, d] = sum_k left[b, i, k, d] * right[b, j, k, d], by the Triton kernel."""
    bs, n, _, hidden = left.shape
    a = left.permute(0, 3, 1, 2).reshape(bs * hidden, n, n).contiguous().float()
    b = right.permute(0, 3, 1, 2).reshape(bs * hidden, n, n).contiguous().float()
    h = torch.empty_like(a)
    grid = (triton.cdiv(n, BLOCK_M), triton.cdiv(n, BLOCK_N), bs * hidden)
    _contract[grid](a, b, h, n, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K,
                    num_warps=NUM_WARPS, num_stages=NUM_STAGES)
    return h.reshape(bs, hidden, n, n).permute(0, 2, 3, 1)


def custom_kernel(data):
    x, mask, weights, config = data
    module = TriMul(config["dim"], config["hidden_dim"]).to(x.device)
    module.load_state_dict(weights)
    with torch.no_grad():
        x = module.norm(x)
        m = mask.unsqueeze(-1)
        left = module.left_proj(x) * m * torch.sigmoid(module.left_gate(x))
        right = module.right_proj(x) * m * torch.sigmoid(module.right_gate(x))
        h = _triangle(left, right)
        return module.to_out(module.to_out_norm(h) * torch.sigmoid(module.out_gate(x)))
'''

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()

reference = (args.dataset_dir / "reference.py").read_text(encoding="utf-8")
if METHOD == "reference":
    submission = reference + "\n\ncustom_kernel = ref_kernel\n"
else:
    # Choices are words: the launch configuration is written into the submission as ints.
    launch = (f"\nBLOCK_M, BLOCK_N, BLOCK_K = {int(BLOCK_M)}, {int(BLOCK_N)}, {int(BLOCK_K)}\n"
              f"NUM_WARPS, NUM_STAGES = {int(NUM_WARPS)}, {int(NUM_STAGES)}\n")
    submission = reference + launch + KERNEL
(args.working_dir / "submission.py").write_text(submission, encoding="utf-8")
print("submitted the PyTorch reference" if METHOD == "reference" else
      f"submitted a Triton contraction ({BLOCK_M}x{BLOCK_N}x{BLOCK_K}, {NUM_WARPS} warps, "
      f"{NUM_STAGES} stages)")
