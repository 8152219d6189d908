"""`sia task check`: every problem of a task directory at once, before any agent (or API
bill) runs. Each check gives one line: what is wrong and what to do.

The cheap checks here (`cheap_checks`: layout and task.toml, private answers out of
reach, the validation split, id lists) read files only; `sia run` runs them first. The
full check (sia_core.loop.task_check, above the loop because it runs the evaluator and
the reference harness the way a run does) adds those two.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sia_core.errors import SiaError
from sia_core.tasks.splits import carve, ids_in, read_rows
from sia_core.tasks.task import Task, ValidationSplit, load_task_dir


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str
    warning: bool = False
    """Passed, with something the author should know (counted as passed)."""
    skipped: bool = False
    """Not run, and why (counted apart: neither passed nor failed)."""

    def line(self) -> str:
        mark = "skip" if self.skipped else "warn" if self.warning else "ok  " if self.ok else "FAIL"
        return f"{mark} {self.check}: {self.message}"


def _layout(root: Path) -> tuple[Task | None, list[Finding]]:
    try:
        task = load_task_dir(root)
    except SiaError as exc:
        return None, [Finding("layout", False, str(exc))]
    return task, [Finding("layout", True, f"{task.name}: task.md, evaluator and task.toml read")]


def _private_out_of_reach(task: Task) -> Iterator[Finding]:
    public, private = task.public_dir.resolve(), task.private_dir.resolve()
    if private.is_relative_to(public):
        yield Finding("private data", False, f"{private} is inside data/public; move it out")
        return
    for path in sorted(task.public_dir.rglob("*")):
        if path.is_symlink():
            target = path.resolve()
            if target.is_relative_to(private) or target.is_relative_to(task.root.resolve()):
                yield Finding(
                    "private data",
                    False,
                    f"{path.relative_to(task.root)} links into the task directory; the agent "
                    "could follow it to the answers: copy the file instead",
                )
                return
    secret = [p for p in private.rglob("*") if p.is_file()] if private.is_dir() else []
    sizes = {p.stat().st_size for p in secret}
    for path in sorted(task.public_dir.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.stat().st_size not in sizes:
            continue
        data = path.read_bytes()
        if any(p.stat().st_size == len(data) and p.read_bytes() == data for p in secret):
            yield Finding(
                "private data",
                False,
                f"{path.relative_to(task.root)} is a copy of a private file: remove it from "
                "data/public",
            )
            return
    yield Finding("private data", True, "nothing in data/public reaches data/private")


def _split(task: Task) -> Iterator[Finding]:
    split = task.config.validation
    if split is None:
        message = (
            "no validation split: selection runs on the test items (add [validation] to "
            "task.toml to hold the reported score out)"
            if task.config.selection_data is None
            else f"the task's own selection split in {task.config.selection_data}/"
        )
        yield Finding("validation split", True, message)
        return
    with tempfile.TemporaryDirectory(prefix="sia-check-") as tmp:
        try:
            shutil.copytree(task.root / "data", Path(tmp) / "data")
            held = carve(split, task.public_dir, task.private_dir, Path(tmp))
        except (SiaError, OSError, ValueError, KeyError) as exc:
            yield Finding("validation split", False, f"cannot carve it: {exc}")
            return
        kept = ids_in(Path(tmp) / "data" / "public" / split.source, split.id_column) or set()
        selection = ids_in(Path(tmp) / "data" / "public" / split.inputs, split.id_column) or set()
    if kept & selection:
        yield Finding(
            "validation split",
            False,
            f"{len(kept & selection)} selection ids stay in {split.source} with their labels; "
            f"make the ids in column {split.id_column!r} unique",
        )
        return
    yield Finding("validation split", True, f"{held} rows carved for selection, none left in "
                  f"{split.source}")  # fmt: skip


def _content(row: dict[str, Any], columns: list[str]) -> tuple[str, ...]:
    return tuple(str(row.get(c, "")).strip() for c in columns)


def _id_lists(task: Task) -> Iterator[Finding]:
    split = task.config.validation
    if split is None:
        yield Finding("ids", True, "no [validation] id column to compare")
        return
    test = ids_in(task.public_dir / split.inputs, split.id_column) or set()
    answers = ids_in(task.private_dir / split.answers, split.id_column) or set()
    problems = []
    if test != answers:
        problems.append(
            f"{split.inputs} and private {split.answers} list different ids "
            f"({len(test - answers)} without an answer, {len(answers - test)} answers "
            "for no input): give every test row its answer"
        )
    leaked, repeated = _shared_rows(task, split)
    if leaked:
        problems.append(
            f"{len(leaked)} test rows are also in {split.source} under the same id, with "
            f"their labels (e.g. {', '.join(leaked[:3])}): remove them from the training rows"
        )
    sample = task.public_dir / "sample_submission.csv"
    if sample.is_file() and (ids_in(sample, split.id_column) or set()) != test:
        problems.append(f"sample_submission.csv does not list the ids of {split.inputs}")
    if problems:
        for problem in problems:
            yield Finding("ids", False, problem)
        return
    yield Finding("ids", True, f"{len(test)} test ids, each with its answer, none in training")
    if repeated:
        # Real benchmarks hold a few identical texts; the test score is inflated by at
        # most these rows, which the author should know of, not be refused for.
        yield Finding(
            "duplicates",
            True,
            f"{len(repeated)} test inputs also appear in {split.source} with the same "
            f"content (test ids {', '.join(repeated[:10])}"
            f"{', ...' if len(repeated) > 10 else ''}): the test score may count them",
            warning=True,
        )


def _shared_rows(task: Task, split: ValidationSplit) -> tuple[list[str], list[str]]:
    """Test rows whose content is in the training rows: under the same id (the label
    leaks with it), and under any id (a duplicate input). Ids alone prove nothing: the
    original tasks number their rows per file, so test row 7 and training row 7 differ."""
    try:
        test_cols, test_rows = read_rows(task.public_dir / split.inputs)
        train_cols, train_rows = read_rows(task.public_dir / split.source)
    except (OSError, ValueError):
        return [], []
    skip = {split.id_column, split.label_column}
    columns = [c for c in test_cols if c in train_cols and c not in skip]
    if not columns:  # nothing but ids to compare: a shared id is all the evidence there is
        train_ids = {str(r.get(split.id_column)) for r in train_rows}
        return sorted(str(r.get(split.id_column)) for r in test_rows
                      if str(r.get(split.id_column)) in train_ids), []  # fmt: skip
    by_id = {str(r.get(split.id_column)): _content(r, columns) for r in train_rows}
    contents = set(by_id.values())
    leaked, repeated = [], []
    for row in test_rows:
        key, content = str(row.get(split.id_column)), _content(row, columns)
        if by_id.get(key) == content:
            leaked.append(key)
        elif content in contents:
            repeated.append(key)
    return leaked, repeated


def cheap_checks(root: Path) -> list[Finding]:
    """The checks that only read files: layout, private data, the split, id lists."""
    task, findings = _layout(root)
    if task is None:
        return findings
    for check in (_private_out_of_reach, _split, _id_lists):
        findings += list(check(task))
    return findings


def guarded(name: str, step: Callable[[], Iterator[Finding]]) -> list[Finding]:
    try:
        return list(step())
    except SiaError as exc:
        return [Finding(name, False, str(exc))]
