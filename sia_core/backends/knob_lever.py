"""A harness generation without an LLM: the next trial of the knob study, written into
the parent's target_agent.py (only the knob lines change) with an improvement.md that
says what changed and why."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sia_core.backends.contract import BackendCannotAct, Decision, FeedbackContext
from sia_core.errors import SiaError
from sia_core.harness.knob_search import KnobSearch, Proposal, changed, demo_pool, describe_values
from sia_core.harness.knobs import Knob, KnobError, parse_knobs, rewrite, skeleton_digest


@dataclass(frozen=True)
class ParentKnobs:
    source: str
    knobs: list[Knob]
    problem: str = ""
    """Why the parent's knobs could not be read (then `knobs` is empty)."""

    @property
    def values(self) -> dict[str, object]:
        return {k.name: k.value for k in self.knobs}


def parent_knobs(ctx: FeedbackContext) -> ParentKnobs:
    path = ctx.out_dir / "target_agent.py"  # the loop copied the parent's harness here
    if not path.is_file():
        return ParentKnobs("", [])
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ParentKnobs("", [], "the parent harness cannot be read")
    try:
        return ParentKnobs(source, parse_knobs(source))
    except KnobError as exc:
        return ParentKnobs(source, [], str(exc))


def study_name(ctx: FeedbackContext, parent: ParentKnobs) -> str:
    skeleton = skeleton_digest(parent.source, parent.knobs)
    return f"adapter-{ctx.parent.adapter_gen or 0}-harness-{skeleton}"


def search_for(ctx: FeedbackContext) -> KnobSearch:
    if ctx.run_dir is None:
        raise BackendCannotAct("the knob search needs the run directory to keep its study in")
    return KnobSearch(ctx.run_dir, ctx.task.config.direction, ctx.seed)


def _improvement(ctx: FeedbackContext, parent: ParentKnobs, proposal: Proposal, why: str) -> str:
    moved = changed(parent.values, proposal.values)
    lines = [
        f"# Generation {ctx.number}: harness knobs (trial {proposal.trial} of study "
        f"`{proposal.study}`)",
        "",
        "## What changed",
        "",
    ]
    for name in moved:
        old, new = json.dumps(parent.values.get(name)), json.dumps(proposal.values[name])
        lines.append(f"- `{name}`: {old} → {new}")
    if not moved:
        lines.append("- nothing: the trial re-runs the parent's setting")
    same = [n for n in proposal.values if n not in moved]
    if same:
        lines += ["", f"Unchanged: {describe_values(proposal.values, same)}."]
    source = {
        "edit": "a one-knob edit of the parent's setting (one of the study's first trials, "
        "before TPE models the scores)",
        "random": "drawn at random (one of the study's first trials, before TPE models the scores)",
    }.get(
        proposal.how, f"proposed by Optuna's TPE sampler from {proposal.finished} finished trials"
    )
    lines += ["", "## Why", "", f"Lever: {why}.", "", f"The setting was {source}."]
    if proposal.best:
        best = proposal.best
        lines.append(
            f"Best so far on this adapter and harness: trial {best['trial']} "
            f"(generation {best['gen']}), selection score {best['score']:.4f}."
        )
    if proposal.repeats:
        lines.append(
            f"The sampler proposed {len(proposal.repeats)} already-scored setting(s) first; "
            "they were told their known score without running again."
        )
    if proposal.reused:
        lines.append("This trial was asked for before a kill and is run now, not asked anew.")
    return "\n".join(lines) + "\n"


TRIAL_BUDGET_S = 90.0
"""Seconds of knob trials one harness generation may spend. How many trials that buys
comes from the measured cost of one: the parent's own run on the selection split. A
classical harness that scores in seconds runs several (up to MAX_INNER); a model harness
that takes a minute runs one, and then the generation's own run is its trial."""
MAX_INNER = 8


def trials_for(ctx: FeedbackContext, limit: int | None) -> int:
    """How many knob trials this generation runs: `limit`, or as many runs of the
    parent's length as fit in TRIAL_BUDGET_S."""
    if limit is not None:
        return max(1, limit)
    try:
        record = json.loads((ctx.parent.dir / "generation.json").read_text("utf-8"))
        seconds = float(record["agent"]["duration_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1
    return max(1, min(MAX_INNER, int(TRIAL_BUDGET_S // max(seconds, 1.0))))


@dataclass
class InnerTrial:
    trial: int
    values: dict[str, object]
    score: float | None
    how: str = "rerun"


def propose_knobs(
    ctx: FeedbackContext, parent: ParentKnobs, why: str, limit: int | None = None
) -> Decision:
    """This generation's harness. With one trial (a slow harness, or `limit` 1) it is
    the next trial of the study, scored by the generation's own run. With several, each
    is scored on the selection split as soon as it is asked for and told to the study at
    once (so a kill loses no trial and runs none twice), and the best is the harness;
    each is a one-knob edit of the best setting so far, or TPE's proposal once the edits
    are spent."""
    search = search_for(ctx)
    selection = ctx.selection or ctx.task
    name = study_name(ctx, parent)
    candidate = ctx.candidate if ctx.candidates > 1 else None
    count = trials_for(ctx, limit)
    try:
        pools = {
            k.name: demo_pool(k, ctx.task, selection, ctx.seed)
            for k in parent.knobs
            if k.kind == "demos"
        }
        baseline = (
            (parent.values, float(ctx.parent.score), ctx.parent.number)
            if ctx.parent.score is not None and ctx.parent.status == "ok"
            else None
        )
        if count == 1 or ctx.on_selection is None:
            proposal = search.propose(name, parent.knobs, pools, ctx.number, candidate, baseline)
            return _decision(ctx, parent, proposal, why, [])
        done = [InnerTrial(*t) for t in search.inner_trials(name, ctx.number, candidate)]
        last: Proposal | None = None
        while len(done) < count:
            best = _best(done, ctx.task.config.direction)
            last = search.propose(
                name, parent.knobs, pools, ctx.number, candidate, baseline,
                inner=len(done), base=best.values if best and best.score is not None else None,
            )  # fmt: skip
            trial_dir = ctx.out_dir / "trials" / f"knobs_{last.trial}"
            trial_dir.mkdir(parents=True, exist_ok=True)
            agent = trial_dir / "target_agent.py"
            agent.write_text(rewrite(parent.source, last.values), encoding="utf-8")
            if (ctx.out_dir / "requirements.txt").is_file():
                shutil.copy2(ctx.out_dir / "requirements.txt", trial_dir / "requirements.txt")
            report = ctx.on_selection(agent)
            score = report.score if report.ok else None
            search.tell(name, last.trial, score)
            done.append(InnerTrial(last.trial, last.values, score, last.how))
    except SiaError as exc:
        raise BackendCannotAct(f"the knob search cannot go on: {exc}") from None
    best = _best(done, ctx.task.config.direction)
    if best is None or best.score is None:
        raise BackendCannotAct(
            f"every knob trial of generation {ctx.number} failed on the selection split"
        )
    chosen = Proposal(
        values=best.values,
        study=name,
        trial=best.trial,
        reused=False,
        how=best.how,
        finished=last.finished if last else 0,
        best=last.best if last else None,
        repeats=last.repeats if last else [],
    )
    return _decision(ctx, parent, chosen, why, done)


def _best(done: list[InnerTrial], direction: str) -> InnerTrial | None:
    scored = [t for t in done if t.score is not None]
    if not scored:
        return done[-1] if done else None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda t: float(t.score))  # type: ignore[arg-type]


def _decision(
    ctx: FeedbackContext,
    parent: ParentKnobs,
    proposal: Proposal,
    why: str,
    inner: list[InnerTrial],
) -> Decision:
    harness = rewrite(parent.source, proposal.values)
    out: Path = ctx.out_dir
    (out / "target_agent.py").write_text(harness, encoding="utf-8")
    improvement = _improvement(ctx, parent, proposal, why)
    if inner:
        improvement += _inner_table(parent, inner, proposal.trial)
    (out / "improvement.md").write_text(improvement, encoding="utf-8")
    moved = changed(parent.values, proposal.values)
    tried = f"best of {len(inner)} trials, " if len(inner) > 1 else ""
    return Decision(
        lever="harness",
        rationale=f"{why}; knob trial {proposal.trial} ({tried}{proposal.how}): "
        + (describe_values(proposal.values, moved) if moved else "the parent's setting"),
        hyperparameters={
            "knobs": proposal.values,
            "study": proposal.study,
            "trial": proposal.trial,
            "trials": [
                {"trial": t.trial, "score": t.score, "values": t.values} for t in inner
            ],
        },
        source=f"heuristic: knob search (optuna {proposal.how})",
    )


def _inner_table(parent: ParentKnobs, inner: list[InnerTrial], chosen: int) -> str:
    lines = [
        "",
        "## Trials of this generation (each on the whole selection split)",
        "",
        "| trial | selection | changed from the parent |",
        "|---|---|---|",
    ]
    for t in inner:
        moved = changed(parent.values, t.values)
        score = "failed" if t.score is None else f"{t.score:.4f}"
        mark = " (chosen)" if t.trial == chosen else ""
        lines.append(
            f"| {t.trial}{mark} | {score} | {describe_values(t.values, moved) or 'nothing'} |"
        )
    return "\n".join(lines) + "\n"
