#!/usr/bin/env python3
"""Score denoised.npy for scrna-denoise (molecular cross-validation, as OpenProblems).

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)

The agent saw train counts (binomial thinning of the real counts); the held-out test
counts are the molecules it never saw. Primary metric `mse` (lower is better): each
cell of the test counts and of the denoised matrix normalised to 10,000 in total,
log1p, then the mean squared difference over all values; OpenProblems' value.

`poisson` is OpenProblems' official value, which calls poisson_nll_loss(test, denoised)
with the arguments in that order: mean(test - rate * log(test + 1e-6)), where rate =
denoised x (test total / train total). `poisson_textbook` is the likelihood of the test
counts at that rate: mean(rate - test * log(rate + 1e-6)) (constant log(y!) left out).
The two rank methods differently; only `poisson` compares with OpenProblems.

`mse_norm` and `poisson_norm` (the SIA paper reports mse_norm): (no_denoising - score) /
(no_denoising - perfect_denoising), from the two control methods on the same split
(OpenProblems v1's normalize_scores): 0 for the train counts as they are, 1 for the test
counts themselves; not clipped. task.toml `[evaluator] poisson_norm_gate = 0.97`
rejects a solution whose poisson_norm is below it, as TTT-Discover does.

Items are cells, each with its own MSE (reward = -MSE), grouped by cell type. Only the
cells in the private scored_cells.txt are scored (all, without one): the selection
split's 140 cells or the test split's other 560; every metric, the controls included, is
computed on those cells' rows, as if they were the whole data set.
"""

import argparse
import csv
import json
import tomllib
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


def _rate(train: np.ndarray, test: np.ndarray, denoised: np.ndarray) -> np.ndarray:
    return denoised * (test.sum() / train.sum())


def poisson(train: np.ndarray, test: np.ndarray, denoised: np.ndarray) -> float:
    """OpenProblems' official value: poisson_nll_loss(test, rate), arguments as it
    passes them (the test counts in the predicted-rate slot)."""
    rate = _rate(train, test, denoised)
    return float((test - rate * np.log(test + 1e-6)).mean())


def poisson_textbook(train: np.ndarray, test: np.ndarray, denoised: np.ndarray) -> float:
    """The negative log-likelihood of the test counts at the denoised rate."""
    rate = _rate(train, test, denoised)
    return float((rate - test * np.log(rate + 1e-6)).mean())


def normalised(score: float, no_denoising: float, perfect: float) -> float:
    """(no_denoising - score) / (no_denoising - perfect): 0 for no denoising, 1 for
    perfect; None-safe when the controls tie."""
    span = no_denoising - perfect
    return float((no_denoising - score) / span) if span else 0.0


def controls(train: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """OpenProblems' two control methods: the train counts as they are, and the test
    counts scaled to the train total (rate = test: the perfect denoiser)."""
    return {"no_denoising": train, "perfect": test * (train.sum() / test.sum())}


def gate() -> float | None:
    toml = PUBLIC.parent.parent / "task.toml"
    if not toml.is_file():
        return None
    with toml.open("rb") as fh:
        value = tomllib.load(fh).get("evaluator", {}).get("poisson_norm_gate")
    return float(value) if isinstance(value, (int, float)) else None


def scored_rows(cells: list[dict[str, str]]) -> list[int]:
    listed = PRIVATE / "scored_cells.txt"
    if not listed.is_file():
        return list(range(len(cells)))
    wanted = set(listed.read_text(encoding="utf-8").split())
    return [i for i, cell in enumerate(cells) if cell["id"] in wanted]


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
    rows = scored_rows(cells)
    train, test, denoised = train[rows], test[rows], denoised[rows]
    cells = [cells[i] for i in rows]
    per_cell = cell_mse(test, denoised)
    items = [
        {"id": c["id"], "status": "scored", "reward": -float(e), "group": c["cell_type"]}
        for c, e in zip(cells, per_cell, strict=True)
    ]
    summary = {"mse": float(per_cell.mean()), "poisson": poisson(train, test, denoised),
               "poisson_textbook": poisson_textbook(train, test, denoised),
               "cells": len(cells)}  # fmt: skip
    base = controls(train, test)
    summary["mse_norm"] = normalised(
        summary["mse"],
        float(cell_mse(test, base["no_denoising"]).mean()),
        float(cell_mse(test, base["perfect"]).mean()),
    )
    summary["poisson_norm"] = normalised(
        summary["poisson"],
        poisson(train, test, base["no_denoising"]),
        poisson(train, test, base["perfect"]),
    )
    threshold = gate()
    if threshold is not None and summary["poisson_norm"] < threshold:
        raise SystemExit(
            f"rejected: poisson_norm {summary['poisson_norm']:.4f} is below the task's gate "
            f"{threshold} ([evaluator] poisson_norm_gate)"
        )
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(
        f"mse {summary['mse']:.5f} (mse_norm {summary['mse_norm']:.4f}), poisson "
        f"{summary['poisson']:.5f} (poisson_norm {summary['poisson_norm']:.4f}) over "
        f"{len(cells)} cells"
    )


if __name__ == "__main__":
    main()
