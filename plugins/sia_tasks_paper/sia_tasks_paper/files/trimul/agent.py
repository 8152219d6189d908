#!/usr/bin/env python3
"""Reference harness for trimul: submits the PyTorch reference itself (speedup 1.0).

An improved harness asks the task model (SIA_BASE_URL, SIA_MODEL) to write a faster
`custom_kernel` (Triton and/or PyTorch) and writes it to working_dir/submission.py.
"""

import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()

reference = (args.dataset_dir / "reference.py").read_text(encoding="utf-8")
submission = reference + "\n\ncustom_kernel = ref_kernel\n"
(args.working_dir / "submission.py").write_text(submission, encoding="utf-8")
print("submitted the PyTorch reference")
