"""`sia task check`: every problem of a task directory at once, before any agent (or API
bill) runs. Each check gives one line: what is wrong and what to do.

The cheap checks (`cheap_checks`: layout and task.toml, private answers out of reach,
the validation split, id lists) read files only; `sia run` runs them first. The full
check also runs the evaluator in its sandbox on an empty submission, twice, and the
reference harness on a few items through the sandbox and the gateway.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sia_core.errors import SiaError
from sia_core.tasks.splits import carve, ids_in
from sia_core.tasks.task import Task, load_task_dir


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check}: {self.message}"


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


def _id_lists(task: Task) -> Iterator[Finding]:
    split = task.config.validation
    if split is None:
        yield Finding("ids", True, "no [validation] id column to compare")
        return
    test = ids_in(task.public_dir / split.inputs, split.id_column) or set()
    answers = ids_in(task.private_dir / split.answers, split.id_column) or set()
    train = ids_in(task.public_dir / split.source, split.id_column) or set()
    problems = []
    if test != answers:
        problems.append(
            f"{split.inputs} and private {split.answers} list different ids "
            f"({len(test - answers)} without an answer, {len(answers - test)} answers "
            "for no input): give every test row its answer"
        )
    if test & train:
        problems.append(
            f"{len(test & train)} test ids are also in {split.source} (with their labels): "
            "remove them from the training rows"
        )
    sample = task.public_dir / "sample_submission.csv"
    if sample.is_file() and (ids_in(sample, split.id_column) or set()) != test:
        problems.append(f"sample_submission.csv does not list the ids of {split.inputs}")
    if problems:
        for problem in problems:
            yield Finding("ids", False, problem)
        return
    yield Finding("ids", True, f"{len(test)} test ids, each with its answer, none in training")


def cheap_checks(root: Path) -> list[Finding]:
    """The checks that only read files: layout, private data, the split, id lists."""
    task, findings = _layout(root)
    if task is None:
        return findings
    for check in (_private_out_of_reach, _split, _id_lists):
        findings += list(check(task))
    return findings


def _evaluator(task: Task, bwrap: str | None) -> Iterator[Finding]:
    from sia_core.execution.evaluation import MetricKeyError, run_evaluator

    scores = []
    with tempfile.TemporaryDirectory(prefix="sia-check-") as tmp:
        for attempt in (1, 2):
            gen = Path(tmp) / f"empty_{attempt}"
            gen.mkdir()
            sample = task.public_dir / "sample_submission.csv"
            if sample.is_file():
                shutil.copy2(sample, gen / "predictions.csv")
            try:
                evaluation = run_evaluator(task, gen, shielded=bwrap is not None, bwrap=bwrap)
            except MetricKeyError as exc:
                yield Finding("evaluator", False, str(exc))
                return
            if evaluation.score is None:
                yield Finding(
                    "evaluator",
                    False,
                    f"on an empty submission: {evaluation.error}; an evaluator scores a "
                    "missing prediction as wrong instead of failing",
                )
                return
            scores.append((evaluation.score, len(evaluation.items)))
    expected = None
    if task.config.validation is not None:
        expected = len(ids_in(task.private_dir / task.config.validation.answers, None) or ())
    if scores[0] != scores[1]:
        yield Finding("evaluator", False, f"two runs on the same submission scored {scores}: "
                      "make it deterministic")  # fmt: skip
    elif expected is not None and scores[0][1] != expected:
        yield Finding("evaluator", False, f"{scores[0][1]} items in results.json for "
                      f"{expected} answers: write one item per id")  # fmt: skip
    else:
        yield Finding("evaluator", True, f"an empty submission scores {task.config.metric} "
                      f"{scores[0][0]:.4f} over {scores[0][1]} items, the same twice")  # fmt: skip


def _reference(root: Path, task: Task, sandbox: str, task_model: str | None) -> Iterator[Finding]:
    from sia_core.execution.trials import TrialRunner
    from sia_core.loop.run_config import RunConfig
    from sia_core.loop.wiring import make_executor
    from sia_core.tasks.splits import selection_view

    if task.reference_agent is None:
        yield Finding("reference harness", False, "no reference/reference_target_agent.py: "
                      "write the harness a run starts from")  # fmt: skip
        return
    with tempfile.TemporaryDirectory(prefix="sia-check-") as tmp:
        config = RunConfig(task_dir=str(root), sandbox=sandbox, task_model=task_model)
        executor = make_executor(config, Path(tmp))
        try:
            selection = selection_view(task, Path(tmp) / "views")
            usage: dict = {}
            runner = TrialRunner(executor, selection, 1, Path(tmp), usage)
            report = runner.run(Path(tmp) / "trial", task.reference_agent, 5)
        finally:
            executor.serving.close()
    if not report.ok:
        last = (report.stderr_tail.strip().splitlines() or ["it failed"])[-1]
        yield Finding("reference harness", False, f"on 5 items: {last}")
        return
    score = "" if report.score is None else f", {task.config.metric} {report.score:.4f}"
    yield Finding("reference harness", True, f"ran on {report.items} items through the "
                  f"sandbox and the gateway ({executor.serving.name}){score}")  # fmt: skip


def full_checks(
    root: Path, sandbox: str = "local", task_model: str | None = None, reference: bool = True
) -> list[Finding]:
    """Every check: the cheap ones, the evaluator in its sandbox twice, and (unless
    `reference` is False) the reference harness on a few items."""
    from sia_core.sandbox.bwrap import require_bwrap

    findings = cheap_checks(root)
    if not all(f.ok for f in findings):
        return findings
    task = load_task_dir(root)
    bwrap = require_bwrap(None) if sandbox != "process" else None
    steps: list[Callable[[], Iterator[Finding]]] = [lambda: _evaluator(task, bwrap)]
    if reference:
        steps.append(lambda: _reference(root, task, sandbox, task_model))
    for step in steps:
        try:
            findings += list(step())
        except SiaError as exc:
            findings.append(Finding("run", False, str(exc)))
            break
    return findings
