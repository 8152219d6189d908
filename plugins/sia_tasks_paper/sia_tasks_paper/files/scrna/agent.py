#!/usr/bin/env python3
"""Reference harness for scrna-denoise: no denoising (the train counts as they are)."""

import argparse
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()

counts = np.load(args.dataset_dir / "train_counts.npz")["counts"]
np.save(args.working_dir / "denoised.npy", counts.astype(np.float32))
print(f"wrote {counts.shape} undenoised counts")
