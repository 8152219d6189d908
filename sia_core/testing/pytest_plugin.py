"""sia's test kits as pytest fixtures. Installing sia-core registers this module under
pytest's `pytest11` entry point, so a plugin's own tests get these without a conftest:

    def test_my_sandbox_keeps_the_answers(sia_scene, tmp_path): ...
    def test_my_trainer_on_the_yes_task(sia_yes_task, sia_tiny_model_dir): ...

Every fixture builds in the test's own tmp_path; nothing is downloaded. Imports are
deferred to the fixture bodies: pytest loads this module in every session of a machine
where sia is installed, so loading it must cost nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sia_core.testing.sandbox_checks import Scene


@pytest.fixture
def sia_yes_task(tmp_path: Path) -> Path:
    """A tiny task directory whose every answer is 'yes' (sia_core.testing.yes_task)."""
    from sia_core.testing.yes_task import write_yes_task

    return write_yes_task(tmp_path / "yes-task")


@pytest.fixture
def sia_tiny_model_dir(tmp_path: Path) -> Path:
    """A tiny causal LM saved from a config (no hub download), for `--task-model PATH`."""
    from sia_core.testing.yes_task import write_tiny_model

    return write_tiny_model(tmp_path / "tiny-model")


@pytest.fixture
def sia_scene(tmp_path: Path) -> Scene:
    """A sandbox scene: public data, and canaries where a contained agent must not reach
    (the conformance checks of sia_core.testing.sandbox_checks use it)."""
    from sia_core.testing.sandbox_checks import make_scene

    return make_scene(tmp_path / "scene")


@pytest.fixture
def sia_cli() -> Callable[..., Any]:
    """Runs this environment's `sia` command as a user would; returns CompletedProcess."""
    from sia_core.testing.cli import run_sia

    return run_sia
