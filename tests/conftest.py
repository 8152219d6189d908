"""Shared fixtures: an example task with data the test writes, and a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sia_core.testing.cli import run_sia as sia  # noqa: F401 - the tests' CLI runner

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


@pytest.fixture
def yes_task(sia_yes_task: Path) -> Path:
    # sia_yes_task comes from sia-core's pytest11 plugin, as in any plugin's tests
    return sia_yes_task


@pytest.fixture
def tiny_dir(sia_tiny_model_dir: Path) -> Path:
    return sia_tiny_model_dir


@pytest.fixture
def tiny_loop(yes_task: Path, tiny_dir: Path, tmp_path: Path) -> Any:
    """A heuristic run's Loop on the yes-task with the tiny model (LoRA rank 4), not
    started; its wiring's selection is still the task until a run carves the view."""
    from sia_core.loop.generation_loop import Loop, RunConfig

    config = RunConfig(
        task_dir=str(yes_task),
        backend="heuristic",
        task_model=str(tiny_dir),
        lora={"rank": 4, "alpha": 8},
        runs_dir=str(tmp_path / "runs"),
    )
    return Loop(config)
