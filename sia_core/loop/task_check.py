"""`sia task check`'s full check: the cheap file checks (sia_core.tasks.check), then the
task's evaluator in its sandbox on an empty submission and on the sample submission,
twice each, and the reference harness on a few items through the sandbox and the
gateway, as a run would start them (which is why it sits in the loop's layer)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sia_core.errors import SiaError
from sia_core.execution.evaluation import MetricKeyError, run_evaluator
from sia_core.execution.trials import TrialRunner
from sia_core.loop.run_config import RunConfig
from sia_core.loop.wiring import make_executor, require_reachable
from sia_core.sandbox.bwrap import require_bwrap
from sia_core.tasks.check import Finding, cheap_checks, guarded
from sia_core.tasks.splits import ids_in, selection_view
from sia_core.tasks.task import Task, load_task_dir


def _evaluator(task: Task, bwrap: str | None) -> Iterator[Finding]:
    """The evaluator on nothing, then on the task's sample submission (when it ships
    one), twice each: with nothing to score it must either score every answer as
    missing or say what is missing in one line (a traceback is a crash); on the sample
    it must score one item per answer, the same twice."""

    def twice(name: str, files: list[tuple[Path, str]]) -> list[tuple[Any, ...]]:
        outcomes = []
        for attempt in (1, 2):
            gen = Path(tmp) / f"{name}_{attempt}"
            gen.mkdir()
            for source, target in files:
                shutil.copy2(source, gen / target)
            evaluation = run_evaluator(task, gen, shielded=bwrap is not None, bwrap=bwrap)
            log = (gen / "evaluation.log").read_text("utf-8", errors="replace")
            if evaluation.score is not None:
                outcomes.append((evaluation.score, len(evaluation.items)))
            elif "Traceback (most recent call last)" in log:
                outcomes.append(("crashed", evaluation.error))
            else:
                outcomes.append(("refused", evaluation.error))
        return outcomes

    metric = task.config.metric
    expected = None
    if task.config.validation is not None:
        expected = len(ids_in(task.private_dir / task.config.validation.answers, None) or ())
    sample = next(iter(sorted(task.public_dir.glob("sample_submission.*"))), None)
    outputs = list(task.config.shards.outputs) if task.config.shards else []
    if sample is not None and not outputs:
        outputs = sorted({"predictions" + sample.suffix, sample.name.removeprefix("sample_")})
    with tempfile.TemporaryDirectory(prefix="sia-check-") as tmp:
        try:
            empty = twice("empty", [])
            on_sample = twice("sample", [(sample, o) for o in outputs]) if sample else []
        except MetricKeyError as exc:
            yield Finding("evaluator", False, str(exc))
            return
    if empty[0][0] == "crashed":
        yield Finding("evaluator", False, f"crashed on an empty working directory "
                      f"({empty[0][1]}): say what is missing in one line, or score every "
                      "answer as missing")  # fmt: skip
        return
    for outcomes, what in ((empty, "an empty working directory"), (on_sample, sample)):
        if outcomes and outcomes[0] != outcomes[1]:
            yield Finding("evaluator", False, f"two runs on {what} gave {outcomes}: "
                          "make it deterministic")  # fmt: skip
            return
    if on_sample and isinstance(on_sample[0][0], str):
        yield Finding("evaluator", False, f"on {sample.name if sample else ''} written as "
                      f"{', '.join(outputs)}: {on_sample[0][1]}")  # fmt: skip
        return
    scored = on_sample[0] if on_sample else empty[0]
    if not isinstance(scored[0], str) and expected is not None and scored[1] != expected:
        yield Finding("evaluator", False, f"{scored[1]} items in results.json for "
                      f"{expected} answers: write one item per id")  # fmt: skip
        return
    said = (
        f"an empty submission scores {metric} {empty[0][0]:.4f} over {empty[0][1]} items"
        if not isinstance(empty[0][0], str)
        else f"with nothing to score it says so ({empty[0][1]})"
    )
    if on_sample:
        said += (
            f"; {sample.name if sample else ''} scores {metric} {on_sample[0][0]:.4f} over "
            f"{on_sample[0][1]} items"
        )
    yield Finding("evaluator", True, f"{said}, the same twice")


def _reference(root: Path, task: Task, sandbox: str, task_model: str | None) -> Iterator[Finding]:
    if task.reference_agent is None:
        yield Finding("reference harness", False, "no reference/reference_target_agent.py: "
                      "write the harness a run starts from")  # fmt: skip
        return
    with tempfile.TemporaryDirectory(prefix="sia-check-") as tmp:
        config = RunConfig(task_dir=str(root), sandbox=sandbox, task_model=task_model)
        executor = make_executor(config, Path(tmp))
        require_reachable(executor)
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
    `reference` is False) the reference harness on a few items. Every problem at once:
    the evaluator and the reference harness run even after a file check failed, except
    where running them would be unsafe or cannot work (then a `skipped` line says why)."""
    findings = cheap_checks(root)
    if findings[0].check == "layout" and not findings[0].ok:
        return findings
    task = load_task_dir(root)
    failed = {f.check for f in findings if not f.ok}
    try:
        bwrap = require_bwrap(None) if sandbox != "process" else None
    except SiaError as exc:
        return [*findings, Finding("sandbox", False, str(exc))]
    findings += guarded("evaluator", lambda: _evaluator(task, bwrap))
    if not reference:
        return findings
    if "private data" in failed:
        findings.append(
            Finding(
                "reference harness",
                False,
                "not run: data/public reaches the private answers, and the harness would read them",
                skipped=True,
            )
        )
    elif "validation split" in failed:
        findings.append(
            Finding(
                "reference harness",
                False,
                "not run: it runs on the validation split, which cannot be carved",
                skipped=True,
            )
        )
    else:
        findings += guarded(
            "reference harness", lambda: _reference(root, task, sandbox, task_model)
        )
    return findings
