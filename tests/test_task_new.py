"""`sia task new` and `sia task check`: a researcher's own task in two commands, and the
cheap checks `sia run` makes before any agent runs."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import sia


def labelled_csv(path: Path, rows: int = 50) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review_id", "text", "stars", "sentiment"])
        for i in range(rows):
            good = i % 3 != 0
            writer.writerow([f"r{i}", f"{'great' if good else 'awful'} thing {i}", i % 5,
                             "pos" if good else "neg"])  # fmt: skip
    return path


def new(tmp_path: Path, name: str = "reviews", *extra: str) -> Path:
    source = labelled_csv(tmp_path / "reviews.csv")
    result = sia("task", "new", str(tmp_path / name), "--from-csv", str(source),
                 "--id-column", "review_id", "--label-column", "sentiment", *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tmp_path / name


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_task_new_writes_a_complete_task_from_a_csv(tmp_path: Path) -> None:
    from sia_core.harness.knobs import parse_knobs
    from sia_core.tasks.task import load_task_dir

    root = new(tmp_path)
    task = load_task_dir(root)
    assert task.config.metric == "accuracy" and task.config.validation is not None
    assert task.config.shards is not None and task.reference_agent is not None
    train, test = rows(root / "data/public/train.csv"), rows(root / "data/public/test.csv")
    answers = rows(root / "data/private/answers.csv")
    assert (len(train), len(test)) == (40, 10)
    assert "sentiment" not in test[0] and set(answers[0]) == {"review_id", "sentiment"}
    assert {r["review_id"] for r in test} == {r["review_id"] for r in answers}
    assert not {r["review_id"] for r in test} & {r["review_id"] for r in train}
    knobs = {k.name for k in parse_knobs(task.reference_agent.read_text())}
    # the few-shot path's knobs, and the classical path the data calls for (tabular here:
    # the review texts are too short to be free text)
    assert {"METHOD", "SHOTS", "TEMPERATURE", "TREES", "C"} <= knobs
    assert "10 rows to label" in task.task_md.read_text()
    # never overwrites; bad input is one line
    again = sia("task", "new", str(root))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert again.stderr.count("\n") == 1
    bad = sia("task", "new", str(tmp_path / "x"), "--from-csv", str(tmp_path / "reviews.csv"))
    assert (
        bad.returncode == 2
        and "no column 'id' (columns: review_id, text, stars, sentiment)" in (bad.stderr)
    )
    assert not (tmp_path / "x").exists()


def test_task_check_passes_a_new_task_and_its_example_skeleton(tmp_path: Path) -> None:
    root = new(tmp_path)
    result = sia("task", "check", str(root), "--no-reference")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed, 0 failed" in result.stdout
    assert "ok   evaluator: an empty submission scores accuracy 0.0000 over 10 items" in (
        result.stdout
    )
    skeleton = sia("task", "new", str(tmp_path / "example"))
    assert skeleton.returncode == 0
    assert sia("task", "check", str(tmp_path / "example"), "--no-reference").returncode == 0


def test_task_check_reports_every_problem_at_once(tmp_path: Path) -> None:
    root = new(tmp_path)
    public, private = root / "data" / "public", root / "data" / "private"
    test = rows(public / "test.csv")
    with (public / "train.csv").open("a", newline="") as fh:  # a test row in training
        csv.writer(fh).writerow([test[0]["review_id"], test[0]["text"], test[0]["stars"], "pos"])
    answers = (private / "answers.csv").read_text().splitlines()
    (private / "answers.csv").write_text("\n".join(answers[:-1]) + "\n")  # one answer gone
    shutil.copy2(private / "answers.csv", public / "answers_copy.csv")  # a leak
    result = sia("task", "check", str(root), "--no-reference")
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("private data: data/public/answers_copy.csv is a copy of a private" in f
               for f in failed), result.stdout  # fmt: skip
    assert any("1 without an answer" in f for f in failed), result.stdout
    assert any("1 test rows are also in train.csv under the same id" in f for f in failed), (
        result.stdout
    )
    # the same cheap checks stop `sia run` before any work, in one line
    run = sia("run", "--task-dir", str(root), "--backend", "heuristic", "--runs-dir",
              str(tmp_path / "runs"))  # fmt: skip
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "lists every problem" in run.stderr and not (tmp_path / "runs").exists()
    # a broken task.toml: the layout check says so, and nothing is read past it
    (root / "task.toml").write_text((root / "task.toml").read_text() + "\n[metric]\nkeys = 1\n")
    result = sia("task", "check", str(root), "--no-reference")
    assert result.returncode == 1 and "FAIL layout" in result.stdout


@pytest.mark.slow
def test_task_check_runs_the_reference_harness_through_the_sandbox_and_gateway(
    tmp_path: Path,
) -> None:
    from sia_core.testing.yes_task import write_tiny_model

    root = new(tmp_path)
    model = write_tiny_model(tmp_path / "tiny")
    result = sia("task", "check", str(root), "--task-model", str(model))
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if "reference harness" in x)
    assert line.startswith("ok   reference harness: ran on 5 items") and "accuracy" in line
