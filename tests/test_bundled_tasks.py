"""Every task sia ships passes `sia task check` and starts with `sia run`: the pre-run
checks once refused a bundled task (lawbench) and no test noticed. Those with a
classical path keep a harness generation that beats the reference offline. Each task runs with
the tiny test model in place of its own (an API model needs a key), so the checks and
one generation run offline; the data of the original and paper tasks comes from the
package registry on first use, as it does for a user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import sia

# Kaggle's data needs a Kaggle account (`sia mlebench prepare`): not a task sia builds.
NEEDS_ACCOUNT = ("mlebench:",)
IMPROVE_OFFLINE = ("spaceship-titanic", "lawbench", "scrna-denoise")
THIRD_PARTY = ("[transformers]", "FutureWarning", "DeprecationWarning", "LiteLLM", "Traceback")


def bundled() -> list[str]:
    from sia_core import plugins

    names = [info.name for loader in plugins.task_loaders() for info in loader.list_tasks()]
    return [n for n in names if not n.startswith(NEEDS_ACCOUNT)]


def test_every_bundled_task_is_listed() -> None:
    names = set(bundled())
    expected = {"sentiment", "arithmetic", "gpqa", "lawbench", "longcot-chess",
                "spaceship-titanic", "trimul", "scrna-denoise"}  # fmt: skip
    assert expected <= names, names


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", bundled())
def test_a_bundled_task_checks_and_runs_a_generation(
    name: str, tiny_dir: Path, tmp_path: Path
) -> None:
    check = sia("task", "check", name, "--task-model", str(tiny_dir), timeout=900)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 failed" in check.stdout.splitlines()[-1]
    for word in THIRD_PARTY:
        assert word not in check.stdout + check.stderr, check.stdout + check.stderr
    # The tasks with a classical path improve offline: one harness generation of knob
    # trials is kept and beats the reference on held-out test.
    improves = name in IMPROVE_OFFLINE
    # lawbench: one trial, and a seed whose first edit is the linear SVM (seconds); its
    # other classical path, logistic regression over 191 charges, takes minutes on 2
    # cores. Another seed only makes this test slower, not wrong.
    trials, seed = ("1", "2") if name == "lawbench" else ("2", "0")
    run = sia(
        "run", "--task", name, "--task-model", str(tiny_dir), "--backend", "heuristic",
        "--backend-opt", f"trials={trials}", "--seed", seed,
        "--max-gen", "2" if improves else "1",
        "--run-id", "one", "--runs-dir", str(tmp_path / "runs"), timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    record = json.loads((tmp_path / "runs/run_one/gen_1/generation.json").read_text())
    assert record["status"] == "ok" and record["score"] is not None, record.get("error")
    if improves:
        second = json.loads((tmp_path / "runs/run_one/gen_2/generation.json").read_text())
        assert second["lever"] == "harness" and second["incumbent"], second.get("keep")
        better = second["test_score"] > record["test_score"]
        if name == "scrna-denoise":  # mse: lower is better
            better = second["test_score"] < record["test_score"]
        assert better, (record["test_score"], second["test_score"])
