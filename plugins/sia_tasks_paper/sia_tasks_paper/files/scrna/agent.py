#!/usr/bin/env python3
"""Reference harness for scrna-denoise: no denoising (the train counts as they are).

The constants marked `# sia-knob:` are what sia's offline harness lever tunes; their
values here reproduce the original reference (no denoising). DENOISER picks a method a
researcher would sweep, numpy only: kNN smoothing (each cell the mean of its nearest
cells in PCA space), MAGIC-style diffusion (an adaptive Gaussian kernel over those
neighbours, a Markov matrix raised to the power DIFFUSION_T, applied to the expression),
or a low-rank reconstruction (a truncated SVD). Each works on library-size normalised,
sqrt- or log-transformed counts and is written at each cell's own depth or at the
median depth (DEPTH); ROUND
rounds the result to non-negative integer counts (the step the paper's weights update
found).
"""

import argparse
from pathlib import Path

import numpy as np

# The edit walk tries choices in this order: the method, then the steps around it.
DENOISER = "none"  # sia-knob: choice none|knn|magic|lowrank
ROUND = "none"  # sia-knob: choice none|counts
DEPTH = "cell"  # sia-knob: choice cell|median
TRANSFORM = "sqrt"  # sia-knob: choice sqrt|log
NORMALISE = "library"  # sia-knob: choice library|none
NEIGHBOURS = 5  # sia-knob: int 2..40
DIFFUSION_T = 3  # sia-knob: int 1..8
PCS = 50  # sia-knob: int 5..100
RANK = 20  # sia-knob: int 2..80
DECAY = 40.0  # sia-knob: float 1.0..60.0

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()


def forward(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    depth = counts.sum(axis=1, keepdims=True)
    scaled = counts
    if NORMALISE == "library":
        scaled = counts / np.maximum(depth, 1.0) * np.median(depth)
    return (np.sqrt(scaled) if TRANSFORM == "sqrt" else np.log1p(scaled)), depth


def backward(values: np.ndarray, depth: np.ndarray) -> np.ndarray:
    values = np.maximum(values, 0.0)
    scaled = values**2 if TRANSFORM == "sqrt" else np.expm1(values)
    if NORMALISE == "library" and DEPTH == "cell":
        # Back to each cell's own depth (rounding then keeps the counts' scale); "median"
        # leaves every cell at the median depth it was normalised to.
        scaled = scaled / np.maximum(scaled.sum(axis=1, keepdims=True), 1e-12) * depth
    return np.maximum(scaled, 0.0)


def principal_components(x: np.ndarray, k: int) -> np.ndarray:
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    k = min(k, len(s))
    return u[:, :k] * s[:k]


def distances(points: np.ndarray) -> np.ndarray:
    squared = (points**2).sum(axis=1)
    return np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * points @ points.T, 0.0))


def knn(x: np.ndarray) -> np.ndarray:
    d = distances(principal_components(x, PCS))
    nearest = np.argsort(d, axis=1)[:, : NEIGHBOURS + 1]  # each cell and its neighbours
    return x[nearest].mean(axis=1)


def magic(x: np.ndarray) -> np.ndarray:
    d = distances(principal_components(x, PCS))
    bandwidth = np.maximum(np.sort(d, axis=1)[:, min(NEIGHBOURS, len(d) - 1)], 1e-12)
    affinity = np.exp(-((d / bandwidth[:, None]) ** DECAY))
    affinity = affinity + affinity.T
    markov = affinity / affinity.sum(axis=1, keepdims=True)
    return np.linalg.matrix_power(markov, DIFFUSION_T) @ x


def lowrank(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(RANK, len(s))
    return (u[:, :k] * s[:k]) @ vt[:k] + mean


counts = np.load(args.dataset_dir / "train_counts.npz")["counts"].astype(np.float64)
if DENOISER == "none":
    denoised = counts
else:
    x, depth = forward(counts)
    denoised = backward({"knn": knn, "magic": magic, "lowrank": lowrank}[DENOISER](x), depth)
if ROUND == "counts":
    denoised = np.rint(denoised)
np.save(args.working_dir / "denoised.npy", np.maximum(denoised, 0).astype(np.float32))
print(f"wrote {counts.shape} counts, denoiser {DENOISER}, rounding {ROUND}")
