#!/usr/bin/env python3
"""Score denoised.npy for scrna-denoise (molecular cross-validation, as OpenProblems).

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)

The agent saw train counts (binomial thinning of the real counts); the held-out test
counts are the molecules it never saw. Primary metric `mse` (lower is better): each
cell of the test counts and of the denoised matrix normalised to 10,000 in total,
log1p, then the mean squared difference over all values. Also `poisson`: the Poisson
negative log-likelihood of the test counts at rate = denoised x (test total / train
total), mean over all values (constant log(y!) left out). Items are cells, each with
its own MSE (reward = -MSE), grouped by cell type.
"""

import argparse
import csv
import json
from pathlib import Path

import numpy as np

PUBLIC = Path(__file__).resolve().parent
PRIVATE = PUBLIC.parent / "private"
TARGET_SUM = 1e4


def normalise_log(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to TARGET_SUM (an all-zero row stays zero), then log1p."""
    totals = matrix.sum(axis=1, keepdims=True)
    scale = np.divide(TARGET_SUM, totals, out=np.zeros_like(totals, dtype=float), where=totals > 0)
    return np.log1p(matrix * scale)


def cell_mse(test: np.ndarray, denoised: np.ndarray) -> np.ndarray:
    return ((normalise_log(test) - normalise_log(denoised)) ** 2).mean(axis=1)


def poisson(train: np.ndarray, test: np.ndarray, denoised: np.ndarray) -> float:
    rate = denoised * (test.sum() / train.sum())
    return float((rate - test * np.log(rate + 1e-6)).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    train = np.load(PUBLIC / "train_counts.npz")["counts"].astype(float)
    test = np.load(PRIVATE / "test_counts.npz")["counts"].astype(float)
    with (PUBLIC / "cells.csv").open(newline="") as fh:
        cells = list(csv.DictReader(fh))
    path = args.gen_dir / "denoised.npy"
    if not path.is_file():
        raise SystemExit("no denoised.npy in the working directory")
    try:
        denoised = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"denoised.npy is not a numpy array file: {exc}") from None
    if denoised.shape != train.shape:
        raise SystemExit(f"denoised.npy has shape {denoised.shape}, expected {train.shape}")
    if not np.issubdtype(denoised.dtype, np.number):
        raise SystemExit(f"denoised.npy holds {denoised.dtype}, not numbers")
    denoised = denoised.astype(float)
    if not np.isfinite(denoised).all() or (denoised < 0).any():
        raise SystemExit("denoised.npy has NaN, inf or negative values; counts are >= 0")
    per_cell = cell_mse(test, denoised)
    items = [
        {"id": c["id"], "status": "scored", "reward": -float(e), "group": c["cell_type"]}
        for c, e in zip(cells, per_cell, strict=True)
    ]
    summary = {"mse": float(per_cell.mean()), "poisson": poisson(train, test, denoised),
               "cells": len(cells)}  # fmt: skip
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"mse {summary['mse']:.5f}, poisson {summary['poisson']:.5f} over {len(cells)} cells")


if __name__ == "__main__":
    main()
