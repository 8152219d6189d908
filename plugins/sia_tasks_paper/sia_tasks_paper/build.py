"""Build the paper tasks into the sia cache, once: the SIA task layout
(data/public, data/private, reference/, task.toml)."""

from __future__ import annotations

import csv
import shutil
from importlib.resources import files
from pathlib import Path

from sia_core.api.tasks import build_once, cache_dir, refresh
from sia_core.api.tasks import is_built as pack_is_built

VERSION = 2
FILES = Path(str(files("sia_tasks_paper") / "files"))
THINNING_SEED = 0
VALIDATION_FRACTION = 0.2
"""Cells whose held-out molecules score selection; the rest score the reported test."""
VALIDATION_SEED = 0


def _common(source: Path, root: Path) -> tuple[Path, Path]:
    public, private = root / "data" / "public", root / "data" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    shutil.copy2(source / "task.md", public / "task.md")
    shutil.copy2(source / "evaluate.py", public / "evaluate.py")
    (root / "reference").mkdir()
    shutil.copy2(source / "agent.py", root / "reference" / "reference_target_agent.py")
    shutil.copy2(source / "task.toml", root / "task.toml")
    return public, private


def build_trimul(root: Path) -> None:
    source = FILES / "trimul"
    public, _ = _common(source, root)
    shutil.copy2(source / "reference.py", public / "reference.py")
    shutil.copy2(source / "test.csv", public / "test.csv")
    shutil.copy2(source / "test_cuda.csv", public / "test_cuda.csv")


def build_scrna(root: Path) -> None:
    import numpy as np

    from sia_tasks_paper.scrna_data import TRAIN_FRACTION, h5ad_bytes, read_counts, thin

    data = read_counts(h5ad_bytes())
    train, test = thin(data.counts, TRAIN_FRACTION, THINNING_SEED)
    public, private = _common(FILES / "scrna", root)
    np.savez_compressed(public / "train_counts.npz", counts=train.astype(np.int32))
    np.savez_compressed(private / "test_counts.npz", counts=test.astype(np.int32))
    with (public / "cells.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "cell_type"])
        writer.writerows(zip(data.cells, data.cell_types, strict=True))
    (public / "genes.txt").write_text("\n".join(data.genes) + "\n", encoding="utf-8")
    order = np.random.default_rng(VALIDATION_SEED).permutation(len(data.cells))
    n_validation = round(len(data.cells) * VALIDATION_FRACTION)
    validation = sorted(order[:n_validation].tolist())
    test_cells = sorted(order[n_validation:].tolist())
    selection = root / "selection" / "private"
    selection.mkdir(parents=True)
    for dest, rows in ((private, test_cells), (selection, validation)):
        lines = "".join(data.cells[i] + "\n" for i in rows)
        (dest / "scored_cells.txt").write_text(lines, encoding="utf-8")


BUILDERS = {"trimul": build_trimul, "scrna-denoise": build_scrna}


def location(name: str) -> Path:
    return cache_dir() / "tasks" / f"{name}-v{VERSION}"


def is_built(name: str) -> bool:
    return pack_is_built(location(name))


def task_dir(name: str) -> Path:
    root = build_once(location(name), BUILDERS[name])
    source = FILES / ("scrna" if name == "scrna-denoise" else name)
    # The pack's own files follow the installed plugin (a fixed metric, a new task.md)
    # without rebuilding the data.
    refreshed = {
        source / "task.toml": root / "task.toml",
        source / "task.md": root / "data" / "public" / "task.md",
        source / "evaluate.py": root / "data" / "public" / "evaluate.py",
        source / "agent.py": root / "reference" / "reference_target_agent.py",
    }
    if name == "trimul":
        for data_file in ("reference.py", "test.csv", "test_cuda.csv"):
            refreshed[source / data_file] = root / "data" / "public" / data_file
    refresh(refreshed)
    return root
