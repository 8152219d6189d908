"""A harness generation without an LLM: the next trial of the knob study, written into
the parent's target_agent.py (only the knob lines change) with an improvement.md that
says what changed and why."""

from __future__ import annotations

import json
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


def propose_knobs(ctx: FeedbackContext, parent: ParentKnobs, why: str) -> Decision:
    """The next knob trial as this generation's harness."""
    search = search_for(ctx)
    selection = ctx.selection or ctx.task
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
        proposal = search.propose(
            study_name(ctx, parent),
            parent.knobs,
            pools,
            ctx.number,
            ctx.candidate if ctx.candidates > 1 else None,
            baseline,
        )
        harness = rewrite(parent.source, proposal.values)
    except SiaError as exc:
        raise BackendCannotAct(f"the knob search cannot go on: {exc}") from None
    out: Path = ctx.out_dir
    (out / "target_agent.py").write_text(harness, encoding="utf-8")
    (out / "improvement.md").write_text(_improvement(ctx, parent, proposal, why), encoding="utf-8")
    moved = changed(parent.values, proposal.values)
    return Decision(
        lever="harness",
        rationale=f"{why}; knob trial {proposal.trial} ({proposal.how}): "
        + (describe_values(proposal.values, moved) if moved else "the parent's setting"),
        hyperparameters={
            "knobs": proposal.values,
            "study": proposal.study,
            "trial": proposal.trial,
        },
        source=f"heuristic: knob search (optuna {proposal.how})",
    )
