"""A harness generation without an LLM: the next trial of the knob study, written into
the parent's target_agent.py (only the knob lines change) with an improvement.md that
says what changed and why."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sia_core.backends.contract import BackendCannotAct, Decision, FeedbackContext
from sia_core.errors import SiaError
from sia_core.harness.knob_search import (
    KnobProposal,
    KnobSearch,
    changed,
    demo_pool,
    describe_values,
    probe_rows,
)
from sia_core.harness.knobs import Knob, KnobError, parse_knobs, rewrite, skeleton_digest
from sia_core.harness.request_digest import requests_digest
from sia_core.run_layout import read_record
from sia_core.tasks.splits import read_rows


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


def _improvement(
    ctx: FeedbackContext, parent: ParentKnobs, proposal: KnobProposal, why: str
) -> str:
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
            f"The search proposed {len(proposal.repeats)} setting(s) (trial "
            f"{', '.join(map(str, proposal.repeats))}) that were scored already or sent the "
            "model exactly what a scored one sent on the probe rows; they were told that "
            "score without a selection run."
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
        seconds = float((read_record(ctx.parent.dir) or {})["agent"]["duration_s"])
    except (KeyError, TypeError, ValueError):
        return 1
    return max(1, min(MAX_INNER, int(TRIAL_BUDGET_S // max(seconds, 1.0))))


BOOTSTRAP_ROWS = 48
"""Training rows of a demos knob's pool the current harness is run on, once per study,
to find the rows it answers right: its later demos edits draw from those (DSPy's
bootstrapped demos). About half a selection run of model calls on sentiment."""


def _write_trial(ctx: FeedbackContext, parent: ParentKnobs, folder: str, values: dict) -> Path:
    trial_dir = ctx.out_dir / "trials" / folder
    trial_dir.mkdir(parents=True, exist_ok=True)
    agent = trial_dir / "target_agent.py"
    agent.write_text(rewrite(parent.source, values), encoding="utf-8")
    if (ctx.out_dir / "requirements.txt").is_file():
        shutil.copy2(ctx.out_dir / "requirements.txt", trial_dir / "requirements.txt")
    return agent


MAX_LABELS = 8
"""A demos file whose label column takes at most this many values is a classification:
its bootstrapped demos are drawn label by label."""


def _labels(ctx: FeedbackContext, knob: Knob) -> dict[str, str]:
    """Each row's label in the demos file (id -> label), when the task's validation split
    names a label column that the file has; {} otherwise."""
    split = ctx.task.config.validation
    selection = ctx.selection or ctx.task
    if split is None or not knob.file:
        return {}
    try:
        columns, rows = read_rows(selection.public_dir / knob.file)
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if split.label_column not in columns or (knob.column or split.id_column) not in columns:
        return {}
    key = knob.column or split.id_column
    return {str(row[key]): str(row[split.label_column]) for row in rows}


def _groups(rows: list[str], right: list[str], labels: dict[str, str]) -> list[list[str]]:
    """The bootstrapped demos as groups a demos edit draws from in turn: one group per
    label for a classification (the rows of a label answered right, or, for a label the
    setting never got right, its rows as labelled: demos of one class only teach a base
    model to answer that class), else one group of the rows answered right."""
    classes = sorted({labels[i] for i in rows if i in labels})
    if not 2 <= len(classes) <= MAX_LABELS:
        return [right] if right else []
    groups = []
    for label in classes:
        of_label = [i for i in rows if labels.get(i) == label]
        groups.append([i for i in of_label if i in right] or of_label)
    return groups


def _bootstrap(
    ctx: FeedbackContext,
    search: KnobSearch,
    name: str,
    parent: ParentKnobs,
    pools: dict[str, list[str]],
    setting: dict[str, object] | None,
) -> tuple[dict[str, list[list[str]]], list[str]]:
    """Each demos knob's bootstrapped groups (and what was found this time, as lines for
    improvement.md). Asked once per study, of the best setting so far that shows demos:
    a zero-shot base model answers too little right to choose from."""
    found = search.bootstrapped(name)
    notes: list[str] = []
    for knob in parent.knobs:
        if knob.kind != "demos" or knob.name in found or ctx.on_rows is None:
            continue
        shown = (setting or {}).get(knob.name)
        if not isinstance(shown, list) or not shown:
            continue
        rows = [i for i in pools[knob.name] if i not in shown][:BOOTSTRAP_ROWS]
        agent = _write_trial(ctx, parent, f"bootstrap_{knob.name}", dict(setting or {}))
        answered = ctx.on_rows(agent, rows)
        right = [i for i in rows if answered.get(i)]
        labels = _labels(ctx, knob)
        groups = _groups(rows, right, labels)
        found[knob.name] = {
            "ids": right, "groups": groups, "asked": len(rows), "scored": len(answered),
        }  # fmt: skip
        search.record_bootstrap(name, knob.name, found[knob.name])
        line = (
            f"- `{knob.name}`: the setting {describe_values(setting or {}, [knob.name])} "
            f"answered {len(right)} of {len(rows)} training rows right ({len(answered)} "
            "scored); later edits of this knob draw their demos from those rows first"
        )
        if len(groups) > 1:
            per = ", ".join(
                f"{labels[g[0]]}: {sum(i in right for i in g)} of "
                f"{sum(labels.get(i) == labels[g[0]] for i in rows)}"
                for g in groups
            )
            line += f", label by label ({per}; a label never answered right gives its rows)"
        notes.append(line + ".")
    return {k: [list(g) for g in v.get("groups") or []] for k, v in found.items()}, notes


def parent_calls_model(ctx: FeedbackContext) -> bool:
    """Whether the parent's run called the task model (a classical method does not)."""
    calls = ctx.parent.dir / "calls.jsonl"
    return calls.is_file() and calls.stat().st_size > 0


def _prober(
    ctx: FeedbackContext, parent: ParentKnobs, rows: list[str]
) -> Callable[[dict[str, object]], str | None] | None:
    """What a setting sends the model on the probe rows, as a digest (None: the run
    failed or made no model call); None when the run cannot probe, or when the parent
    made no model call (a classical harness's probe would be a second run for nothing)."""
    if not rows or ctx.on_requests is None or not parent_calls_model(ctx):
        return None
    on_requests = ctx.on_requests
    counter = itertools.count(1)

    def probe(values: dict[str, object]) -> str | None:
        agent = _write_trial(ctx, parent, f"probe_{next(counter)}", dict(values))
        found = on_requests(agent, rows)
        return None if found is None else requests_digest(found.calls, found.rewards)

    return probe


@dataclass
class InnerTrial:
    trial: int
    values: dict[str, object]
    score: float | None
    how: str = "rerun"


def propose_knobs(
    ctx: FeedbackContext,
    parent: ParentKnobs,
    why: str,
    limit: int | None = None,
    probe: bool = True,
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
        prober = (
            _prober(ctx, parent, probe_rows(ctx.task, selection, pools, ctx.seed))
            if probe
            else None
        )
        if count == 1 or ctx.on_selection is None:
            preferred, notes = _bootstrap(
                ctx, search, name, parent, pools, parent.values if baseline else None
            )
            proposal = search.propose(
                name, parent.knobs, pools, ctx.number, candidate, baseline,
                preferred=preferred, probe=prober,
            )  # fmt: skip
            return _decision(ctx, parent, proposal, why, [], notes)
        done = [InnerTrial(*t) for t in search.inner_trials(name, ctx.number, candidate)]
        last: KnobProposal | None = None
        notes: list[str] = []
        repeats: list[int] = []
        while len(done) < count:
            best = _best(done, ctx.task.config.direction)
            scored = best.values if best and best.score is not None else None
            preferred, found = _bootstrap(
                ctx, search, name, parent, pools, scored or (parent.values if baseline else None)
            )
            notes += found
            # Later edits build on a trial only when it beat the parent: an edit that tied
            # (a wording the model ignores) is not carried into every trial after it.
            gained = (
                best is not None
                and best.score is not None
                and ctx.task.better(best.score, baseline[1] if baseline else None)
            )
            last = search.propose(
                name, parent.knobs, pools, ctx.number, candidate, baseline,
                inner=len(done), base=scored if gained else None, preferred=preferred,
                probe=prober,
            )  # fmt: skip
            repeats += last.repeats
            agent = _write_trial(ctx, parent, f"knobs_{last.trial}", last.values)
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
    chosen = KnobProposal(
        values=best.values,
        study=name,
        trial=best.trial,
        reused=False,
        how=best.how,
        finished=last.finished if last else 0,
        best=last.best if last else None,
        repeats=repeats,
    )
    return _decision(ctx, parent, chosen, why, done, notes)


def _best(done: list[InnerTrial], direction: str) -> InnerTrial | None:
    scored = [t for t in done if t.score is not None]
    if not scored:
        return done[-1] if done else None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda t: float(t.score))  # type: ignore[arg-type]


def _decision(
    ctx: FeedbackContext,
    parent: ParentKnobs,
    proposal: KnobProposal,
    why: str,
    inner: list[InnerTrial],
    bootstrap: list[str] | None = None,
) -> Decision:
    harness = rewrite(parent.source, proposal.values)
    out: Path = ctx.out_dir
    (out / "target_agent.py").write_text(harness, encoding="utf-8")
    improvement = _improvement(ctx, parent, proposal, why)
    if inner:
        improvement += _inner_table(parent, inner, proposal.trial)
    if bootstrap:
        improvement += "\n## Bootstrapped demos\n\n" + "\n".join(bootstrap) + "\n"
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
            "trials": [{"trial": t.trial, "score": t.score, "values": t.values} for t in inner],
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
