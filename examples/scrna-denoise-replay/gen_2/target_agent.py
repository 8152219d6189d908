#!/usr/bin/env python3
"""scrna-denoise harness: a low-rank denoiser in the spirit of ALRA. The counts are
normalised per cell and log-transformed, reconstructed from their top singular vectors,
negatives clipped to zero, and brought back to each cell's count scale."""

import argparse
from pathlib import Path

import numpy as np

RANK = 20

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()

counts = np.load(args.dataset_dir / "train_counts.npz")["counts"].astype(float)
totals = counts.sum(axis=1, keepdims=True)
log_norm = np.log1p(counts / np.maximum(totals, 1) * 1e4)
u, s, vt = np.linalg.svd(log_norm, full_matrices=False)
low_rank = np.clip((u[:, :RANK] * s[:RANK]) @ vt[:RANK], 0, None)
denoised = np.expm1(low_rank) * totals / 1e4
np.save(args.working_dir / "denoised.npy", denoised.astype(np.float32))
print(f"rank-{RANK} reconstruction of {counts.shape[0]} cells")
