"""Shared fixtures: an example task with data the test writes, and a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "review-sentiment"


def make_task(
    dest: Path, seed: int = 7, train: int = 120, test: int = 60, validation: bool = True
) -> Path:
    """Copy the review-sentiment task without its data, then write fresh data."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("*.csv", "replay"))
    subprocess.run(
        [
            sys.executable,
            str(dest / "generate.py"),
            "--seed",
            str(seed),
            "--train",
            str(train),
            "--test",
            str(test),
            "--root",
            str(dest),
        ],
        check=True,
    )
    if not validation:
        toml = dest / "task.toml"
        toml.write_text(toml.read_text().split("# Select on")[0])
    return dest


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    return make_task(tmp_path / "task")


@pytest.fixture
def replay_dir() -> Path:
    return EXAMPLE / "replay"


def sia(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real `sia` console script."""
    exe = Path(sys.executable).parent / "sia"
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
        check=False,
    )
