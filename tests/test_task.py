"""Task directories: the SIA layout, task.toml, malformed cases, the carved split."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from sia_core.tasks.splits import selection_view
from sia_core.tasks.task import TaskError, load_task_dir
from tests.conftest import sia


def test_loads_the_sia_layout_and_task_toml(task_dir: Path) -> None:
    task = load_task_dir(task_dir)
    assert task.name == "review-sentiment"
    assert task.evaluator == task_dir / "data" / "public" / "evaluate.py"
    assert task.reference_agent == task_dir / "reference" / "reference_target_agent.py"
    assert task.config.metric == "accuracy" and task.config.direction == "max"
    assert task.config.agent_timeout_s == 120 and task.config.memory_mb == 2048
    assert task.config.validation is not None and task.config.validation.fraction == 0.2


def test_evaluator_in_task_root_and_no_toml(task_dir: Path) -> None:
    (task_dir / "task.toml").unlink()
    shutil.move(task_dir / "data" / "public" / "evaluate.py", task_dir / "evaluate.py")
    task = load_task_dir(task_dir)
    assert task.evaluator == task_dir / "evaluate.py"
    assert task.config.validation is None and task.name == "task"


def _break(task_dir: Path, how: str) -> None:
    toml = task_dir / "task.toml"
    if how == "no task.md":
        (task_dir / "data" / "public" / "task.md").unlink()
    elif how == "no evaluator":
        (task_dir / "data" / "public" / "evaluate.py").unlink()
    elif how == "bad toml":
        toml.write_text("[metric\nkey = 1\n")
    elif how == "unknown metric field":
        toml.write_text('[metric]\nkee = "accuracy"\n')
    elif how == "unknown section":
        toml.write_text('[metrics]\nkey = "accuracy"\n')
    elif how == "bad direction":
        toml.write_text('[metric]\ndirection = "up"\n')
    elif how == "wrong type":
        toml.write_text('[limits]\nmemory_mb = "lots"\n')
    elif how == "missing validation file":
        toml.write_text(toml.read_text().replace('source = "train.csv"', 'source = "x.csv"'))


MALFORMED = {
    "no task.md": "has no data/public/task.md",
    "no evaluator": "has no evaluator; put evaluate.py in data/public/ or the task root",
    "bad toml": "not valid TOML",
    "unknown metric field": "unknown key 'kee' in [metric]; known keys: direction, key",
    "unknown section": "unknown section [metrics]",
    "bad direction": "[metric] direction must be 'max' or 'min', got 'up'",
    "wrong type": "[limits] memory_mb must be a int, got 'lots'",
    "missing validation file": "[validation] source =",
}


@pytest.mark.parametrize("how", sorted(MALFORMED))
def test_malformed_task_dir_gives_one_line(task_dir: Path, how: str) -> None:
    _break(task_dir, how)
    with pytest.raises(TaskError, match=None) as info:
        load_task_dir(task_dir)
    assert MALFORMED[how] in str(info.value)
    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--runs-dir",
        str(task_dir.parent / "runs"),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and MALFORMED[how] in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_task_dir_gives_one_line(tmp_path: Path) -> None:
    result = sia("run", "--task-dir", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: task directory {tmp_path / 'nope'} does not exist"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_selection_view_is_carved_from_labelled_train_only(task_dir: Path, tmp_path: Path) -> None:
    task = load_task_dir(task_dir)
    view = selection_view(task, tmp_path / "views")
    train = _rows(task.public_dir / "train.csv")
    kept = _rows(view.public_dir / "train.csv")
    held_inputs = _rows(view.public_dir / "test.csv")
    held_answers = _rows(view.private_dir / "answers.csv")
    assert len(held_inputs) == round(len(train) * 0.2) == len(held_answers)
    assert len(kept) + len(held_inputs) == len(train)
    assert {r["id"] for r in kept}.isdisjoint(r["id"] for r in held_inputs)
    assert list(held_inputs[0]) == ["id", "text"]  # no label leaks into the inputs
    by_id = {r["id"]: r["label"] for r in train}
    assert all(by_id[a["id"]] == a["label"] for a in held_answers)
    test_ids = {r["id"] for r in _rows(task.private_dir / "answers.csv")}
    assert test_ids.isdisjoint(a["id"] for a in held_answers)  # never the test answers
    again = selection_view(task, tmp_path / "views2")
    assert _rows(again.private_dir / "answers.csv") == held_answers  # fixed seed
    assert view.reference_agent == task.reference_agent and view.config == task.config


def test_carving_names_a_missing_column(task_dir: Path, tmp_path: Path) -> None:
    toml = task_dir / "task.toml"
    toml.write_text(toml.read_text().replace('label_column = "label"', 'label_column = "y"'))
    with pytest.raises(TaskError, match="column 'y' is not in train.csv"):
        selection_view(load_task_dir(task_dir), tmp_path / "views")
