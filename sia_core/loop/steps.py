"""One child of a generation as a pipeline of values: `propose` (the backend writes a
harness and decides a lever), `evaluate` (the weights lever if chosen, then the selection
split), `keep` (the keep rule against the incumbent; the test split for a new one). Each
step returns its outcome; `assemble` makes the generation's record from them, once.

Paths in the outcomes are relative to the child's directory, which is renamed into place
only when whole; nothing in a record has to be rewritten after that rename.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sia_core import plugins
from sia_core.backends.contract import (
    BackendCannotAct,
    Decision,
    FeedbackContext,
    MetaContext,
)
from sia_core.envs import EnvError, python_for
from sia_core.errors import SiaError, relative_paths
from sia_core.execution.executor import sandbox_summary
from sia_core.execution.trajectories import item_rewards
from sia_core.execution.trials import TrialRunner
from sia_core.generation_record import GenerationRecord, ModelCalls
from sia_core.levers.weights import improve_weights
from sia_core.loop import keep_rule, second_look
from sia_core.loop.run_dir import generation_views, incumbent_of
from sia_core.loop.wiring import Wiring
from sia_core.run_layout import Salt, adapter_dir, derived_seed, read_agent_sessions
from sia_core.store import atomic_write_json
from sia_core.weights.shapes import ShapeReport

UsageByPart = dict[str, dict[str, Any]]
"""Stored usages (`Usage.as_dict()` forms) by the part of a generation that spent them."""


@dataclass
class Proposed:
    decision: Decision | None = None
    error: str | None = None
    """Why the backend produced no decision (its fault fails the child, not the run)."""
    usage: UsageByPart = field(default_factory=dict)
    """What the backend's trial runs spent ("trials")."""
    agent_sessions: list[dict[str, Any]] | None = None


@dataclass
class Evaluated:
    adapter_gen: int | None
    """The generation whose adapter the child is evaluated with."""
    error: str | None = None
    partial_score: float | None = None
    score: float | None = None
    items: int | None = None
    summary: dict[str, Any] | None = None
    reward_shape: dict[str, Any] | None = None
    agent: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    usage: UsageByPart = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Kept:
    verdict: dict[str, Any]
    incumbent: bool = False
    test_score: float | None = None
    test_error: str | None = None
    usage: UsageByPart = field(default_factory=dict)


def propose(
    w: Wiring,
    number: int,
    out: Path,
    records: list[GenerationRecord],
    parent_record: GenerationRecord | None,
    candidate: int = 1,
    siblings: list[Decision] | None = None,
) -> Proposed:
    """The backend's child in `out`: generation 1 from the Meta-Agent, later ones from
    the Feedback-Agent with the evidence of the run so far."""
    outcome = Proposed()
    adapter = w.rundir.adapter(parent_record.adapter_gen if parent_record else None)
    runner = TrialRunner(w.executor, w.selection, number, out, outcome.usage, adapter)
    trial = runner.as_trial()
    try:
        if number == 1:
            ctx = MetaContext(
                task=w.task,
                out_dir=out,
                meta_model=w.config.meta_model,
                task_model=w.serving.name,
                trial=trial,
            )
            outcome.decision = w.backend.initial(ctx)
        else:
            ctx = feedback_context(
                w, number, out, records, parent_record, trial, candidate, siblings
            )
            outcome.decision = w.backend.feedback(
                replace(
                    ctx,
                    on_selection=runner.as_selection_trial(),
                    on_rows=runner.as_rows_trial(),
                    on_requests=runner.as_requests_trial(),
                )
            )
    except BackendCannotAct:
        raise
    except Exception as exc:  # a backend's fault fails this generation, not the run
        message = f"backend {w.config.backend!r} failed: {exc}"
        outcome.error = (relative_paths(message, out) or message)[:1000]
    outcome.agent_sessions = read_agent_sessions(out)
    if outcome.decision is not None:
        atomic_write_json(out / "decision.json", outcome.decision.as_dict())
    return outcome


def feedback_context(
    w: Wiring,
    number: int,
    out: Path,
    records: list[GenerationRecord],
    parent_record: GenerationRecord | None,
    trial: Any,
    candidate: int,
    siblings: list[Decision] | None,
) -> FeedbackContext:
    """What the Feedback-Agent decides from: the parent's harness copied into `out`, the
    run's history, the parent's reward shape and the installed algorithms; the evidence is
    kept with the child (feedback_context.json)."""
    views = generation_views(w.rundir, records)
    parent = views[records.index(parent_record)] if parent_record else views[-1]
    for name in ("target_agent.py", "requirements.txt"):
        if (parent.dir / name).is_file():
            shutil.copy2(parent.dir / name, out / name)
    # The rewards of the generation the next one builds on: a failed latest generation
    # has none, and its parent's are what training would start from.
    shape = next(r for r in records if r.number == parent.number).reward_shape
    algorithms = plugins.rl_algorithms()
    ctx = FeedbackContext(
        task=w.task,
        out_dir=out,
        number=number,
        history=views,
        parent=parent,
        reward_report=ShapeReport(**shape) if shape else None,
        algorithms=[spec.info for spec in algorithms],
        algorithm_configs={spec.name: spec.config for spec in algorithms},
        weights_available=w.weights_available,
        meta_model=w.config.meta_model,
        task_model=w.serving.name,
        trial=trial,
        candidate=candidate,
        candidates=w.config.candidates,
        siblings=list(siblings or []),
        run_dir=w.rundir.path,
        selection=w.selection,
        seed=w.config.seed,
    )
    atomic_write_json(
        out / "feedback_context.json",
        {
            "parent": parent.number,
            "reward_shape": shape,
            "algorithms": [asdict(info) for info in ctx.algorithms],
            "weights_available": ctx.weights_available,
            "candidate": candidate,
            "siblings": [d.as_dict() for d in ctx.siblings],
        },
    )
    return ctx


def evaluate(
    w: Wiring,
    number: int,
    tmp: Path,
    decision: Decision,
    expected: int | None,
    parent: GenerationRecord | None,
    candidate: int | None,
) -> Evaluated:
    """Train (weights lever) and run the child on the selection split."""
    outcome = Evaluated(adapter_gen=parent.adapter_gen if parent else None)
    agent = tmp / "target_agent.py"
    if not agent.is_file():
        outcome.error = "the backend wrote no target_agent.py"
        return outcome
    try:
        python = python_for(tmp / "requirements.txt")
    except EnvError as exc:
        outcome.error = str(exc)
        return outcome
    w.serving.serve(w.rundir.adapter(outcome.adapter_gen), w.reporter)
    if decision.lever != "harness":
        try:
            outcome.training = improve_weights(
                w.executor, w.selection, tmp, decision, agent, python,
                number, outcome.adapter_gen, candidate, outcome.usage,
            )  # fmt: skip
        except SiaError as exc:
            outcome.error = relative_paths(f"weights lever: {exc}", tmp)
            return outcome
        outcome.adapter_gen = number
    selection = w.executor.run_split(number, "selection", w.selection, agent, tmp, python, expected)
    outcome.usage["selection"] = selection.usage
    outcome.agent = sandbox_summary(selection.sandbox)
    evaluation = selection.evaluation
    calls = ModelCalls.of(selection.usage)
    if selection.error:
        # A crashed or stopped agent fails its generation even when the evaluator could
        # score what it left behind; that partial score is kept for the record only.
        failed = f"; {calls.text()}" if calls.failed else ""
        outcome.error, outcome.partial_score = selection.error + failed, evaluation.score
        return outcome
    if calls.mostly_failed:
        # An unreachable model scores zeros that would read as the harness's score.
        outcome.error = f"{calls.text()}: the score is not the task model's"
        outcome.partial_score = evaluation.score
        return outcome
    outcome.score = evaluation.score
    outcome.items, outcome.summary = len(evaluation.items), evaluation.summary
    algorithms = [spec.info for spec in plugins.rl_algorithms()]
    outcome.reward_shape = w.classifier.classify(evaluation.rewards, algorithms).as_dict()
    return outcome


def out_of_reach(w: Wiring, records: list[GenerationRecord]) -> str | None:
    """Why no child of the next generation could be kept (the incumbent fails too few
    selection items for the keep rule to see a gain), or None."""
    incumbent = incumbent_of(records)
    if incumbent is None or incumbent.score is None:
        return None
    held = item_rewards(w.rundir.gen_dir(incumbent.number))
    spare = second_look.spare_rows(w, records, None) if w.config.keep_rule == "paired" else []
    return keep_rule.out_of_reach(w.config.keep_rule, held, len(spare) >= second_look.MIN_ROWS)


def keep(
    w: Wiring,
    number: int,
    tmp: Path,
    score: float | None,
    records: list[GenerationRecord],
    adapter_gen: int | None = None,
    training: dict[str, Any] | None = None,
) -> Kept:
    """The keep rule against the incumbent (a second look at a close call, where the task
    has rows to spare); a kept child runs on the test split. `adapter_gen`: the
    generation whose adapter the child was evaluated with; `training`: its own."""
    incumbent = incumbent_of(records)
    candidate = item_rewards(tmp)
    home = w.rundir.gen_dir(incumbent.number) if incumbent else None
    held = item_rewards(home) if home else None
    spare: list[str] = []
    if home is not None and w.config.keep_rule == "paired":
        spare = second_look.spare_rows(w, records, training)
    keep_seed = derived_seed(w.config.seed, number, Salt.KEEP_RULE)
    verdict = keep_rule.decide(
        w.config.keep_rule,
        candidate,
        held,
        score,
        incumbent.score if incumbent else None,
        w.task.config.direction,
        seed=keep_seed,
        two_looks=len(spare) >= second_look.MIN_ROWS,
    )
    usage: UsageByPart = {}
    if verdict.second_look and incumbent is not None and held is not None:
        harnesses = [
            tmp / "target_agent.py",
            w.rundir.gen_dir(incumbent.number) / "target_agent.py",
        ]
        unnamed = second_look.unnamed(spare, harnesses)
        seed = derived_seed(w.config.seed, number, Salt.SECOND_LOOK)
        rows = second_look.draw(unnamed, len(candidate), seed)
        more: tuple[dict[str, float], dict[str, float]] | str = (
            f"the two harnesses name all but {len(unnamed)} of the {len(spare)} spare rows"
        )
        if rows:
            w.reporter.info(
                f"gen {number}: a close call (p={verdict.p_value:.3f}): both run on "
                f"{len(rows)} more training rows"
            )
            adapter = adapter_dir(tmp) if adapter_gen == number else w.rundir.adapter(adapter_gen)
            more = second_look.run(w, number, tmp, rows, adapter, incumbent, usage)
        if isinstance(more, str):
            verdict = keep_rule.no_second_look(verdict, more)
        else:
            verdict = keep_rule.pooled(verdict, (candidate, held), more, keep_seed)
    outcome = Kept(verdict=verdict.as_dict(), incumbent=verdict.kept, usage=usage)
    if not verdict.kept:
        return outcome
    if w.selection is w.task:
        outcome.test_score = score
        return outcome
    try:
        python = python_for(tmp / "requirements.txt")
    except EnvError as exc:
        outcome.test_error = str(exc)
        return outcome
    agent = tmp / "target_agent.py"
    test = w.executor.run_split(number, "test", w.task, agent, tmp / "test", python, None)
    outcome.usage["test"] = test.usage
    outcome.test_score = test.evaluation.score
    if test.evaluation.score is None:
        outcome.test_error = test.error
    return outcome


def assemble(
    number: int,
    started: float,
    parent: int | None,
    proposal: Proposed,
    evaluated: Evaluated | None = None,
    kept: Kept | None = None,
    candidate: int | None = None,
) -> GenerationRecord:
    """The generation record of one child, from its steps' outcomes."""
    record = GenerationRecord(number=number, started=started, parent=parent)
    record.candidate = candidate
    record.error = proposal.error
    record.agent_sessions = proposal.agent_sessions
    for part in (proposal.usage, evaluated.usage if evaluated else {}, kept.usage if kept else {}):
        for name, usage in part.items():
            record.add_usage(name, usage)
    if proposal.decision is not None:
        record.decision = proposal.decision.as_dict()
        record.lever, record.algorithm = proposal.decision.lever, proposal.decision.algorithm
    if evaluated is not None:
        record.adapter_gen, record.training = evaluated.adapter_gen, evaluated.training
        record.agent = evaluated.agent
        if evaluated.ok:
            record.status, record.score = "ok", evaluated.score
            record.items, record.summary = evaluated.items, evaluated.summary
            record.reward_shape = evaluated.reward_shape
        else:
            record.error, record.partial_score = evaluated.error, evaluated.partial_score
    if kept is not None:
        record.keep, record.incumbent = kept.verdict, kept.incumbent
        record.test_score, record.test_error = kept.test_score, kept.test_error
    record.finished = time.time()
    return record


def child(
    w: Wiring,
    number: int,
    tmp: Path,
    records: list[GenerationRecord],
    parent: GenerationRecord | None,
    candidate: int | None = None,
    siblings: list[Decision] | None = None,
    decide_keep: bool = True,
    announce: Callable[[], None] | None = None,
) -> tuple[GenerationRecord, Evaluated | None]:
    """propose -> evaluate (-> keep) for one child in `tmp`: its record, and its
    evaluation for a caller that keeps later (the best of several candidates).
    `announce` is called once the backend has proposed: a backend that has nothing left
    to propose ends the run before a child it never made is announced."""
    started = time.time()
    parent_number = parent.number if parent and number > 1 else None
    proposal = propose(w, number, tmp, records, parent, candidate or 1, siblings)
    if announce is not None:
        announce()
    evaluated = kept = None
    if proposal.decision is not None:
        expected = records[-1].items if records else None
        evaluated = evaluate(w, number, tmp, proposal.decision, expected, parent, candidate)
        if evaluated.ok and decide_keep:
            kept = keep(
                w, number, tmp, evaluated.score, records,
                evaluated.adapter_gen, evaluated.training,
            )  # fmt: skip
    record = assemble(number, started, parent_number, proposal, evaluated, kept, candidate)
    return record, evaluated
