"""No LLM, both levers: generation 1 is the reference agent; each later generation
either tunes the harness's declared knobs (an Optuna study over `# sia-knob:` constants
and few-shot demo ids) or trains the weights with the algorithm that the reward-shape
classifier ranks first, chosen from the evidence so far (`lever_choice`)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sia_core.backends.contract import (
    BackendCannotAct,
    Decision,
    FeedbackContext,
    MetaContext,
    NothingLeftToImprove,
    start_from_reference,
)
from sia_core.backends.knob_lever import (
    MAX_INNER,
    parent_calls_model,
    parent_knobs,
    propose_knobs,
    search_for,
    study_name,
)
from sia_core.backends.lever_choice import LEVER_SETTINGS, LeverEvidence, choose_lever
from sia_core.errors import SiaError
from sia_core.options import OptionError, parse
from sia_core.weights.plan import ROLLOUT_KEYS, RolloutPlan

# When successes are rare each round of rollouts finds only a few, and training on them
# raises the next round's success rate: more, shorter sample-then-train iterations
# compound where two long ones do not (measured on arithmetic: docs/configuration.md,
# "Which algorithm for which rewards").
ROLLOUT_PLANS: dict[str, dict[str, int]] = {"sparse": {"rounds": 4}}


def _evaluator_note(ctx: FeedbackContext) -> str:
    """What the parent's evaluator said of its own score (trimul on a CPU: speed is not
    measured, so every correct kernel ties and launch knobs cannot be told apart)."""
    try:
        summary = json.loads((ctx.parent.dir / "results.json").read_text("utf-8"))["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    note = summary.get("note") if isinstance(summary, dict) else None
    return f" ({str(note)[:300]})" if note else ""


OPTIONS = ("levers", "trials", "probe", *ROLLOUT_KEYS)


def _rollout(options: Mapping[str, str]) -> dict[str, int | float]:
    """The rollout plan a user fixed (`--backend-opt items=8 k=4 rounds=1`): a smaller
    round than the default 32 × 8 where a CPU must finish a weights generation in minutes."""
    given: dict[str, int | float] = {}
    for key in ROLLOUT_KEYS:
        if key not in options:
            continue
        text = options[key]
        try:
            given[key] = float(text) if key == "temperature" else int(text)
        except ValueError:
            raise SiaError(f"--backend-opt {key}={text}: use a number") from None
    try:
        parse(RolloutPlan, given, "--backend-opt")
    except OptionError as exc:
        raise SiaError(str(exc)) from None
    return given


class HeuristicBackend:
    name = "heuristic"

    def __init__(
        self,
        levers: str = "both",
        trials: int | None = None,
        rollout: Mapping[str, int | float] | None = None,
        probe: bool = True,
    ) -> None:
        self.levers = levers
        self.trials = trials
        """Knob trials per harness generation (None: from the cost of the first)."""
        self.probe = probe
        """Whether a knob trial is first run on the probe rows, and told the score of a
        setting that sent the model the same requests instead of a selection run."""
        self.rollout = dict(rollout or {})
        """Rollout settings the user fixed; they win over the plan for the reward shape."""

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> HeuristicBackend:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise SiaError(
                f"backend 'heuristic' takes the options {', '.join(OPTIONS)}; got {unknown[0]!r}"
            )
        levers = options.get("levers", "both")
        if levers not in LEVER_SETTINGS:
            raise SiaError(f"--backend-opt levers={levers}: use one of {', '.join(LEVER_SETTINGS)}")
        trials = options.get("trials", "auto")
        if trials != "auto" and not (trials.isdigit() and 1 <= int(trials) <= MAX_INNER):
            raise SiaError(
                f"--backend-opt trials={trials}: use auto or a number from 1 to {MAX_INNER}"
            )
        probe = options.get("probe", "on")
        if probe not in ("on", "off"):
            raise SiaError(f"--backend-opt probe={probe}: use on or off")
        return cls(
            levers, None if trials == "auto" else int(trials), _rollout(options), probe == "on"
        )

    def initial(self, ctx: MetaContext) -> Decision:
        return start_from_reference(ctx, "the heuristic backend starts from the reference agent")

    def feedback(self, ctx: FeedbackContext) -> Decision:
        report = ctx.reward_report
        if report is not None and report.label == "saturated":
            raise NothingLeftToImprove(
                "every selection item already gets the full reward: no "
                "generation can beat the incumbent" + _evaluator_note(ctx)
            )
        parent = parent_knobs(ctx) if self.levers != "weights" else None
        # A harness that never calls the model (a classical method) cannot be moved by
        # training the model's weights.
        trainable = bool(ctx.algorithms) and ctx.weights_available and parent_calls_model(ctx)
        trials = 0
        if parent is not None and parent.knobs:
            trials = search_for(ctx).completed(study_name(ctx, parent))
        history = tuple(
            (str((g.decision or {}).get("lever", "")), g.kept) for g in ctx.history if g.number > 1
        )
        lever, why = choose_lever(
            LeverEvidence(
                levers=self.levers,
                knobs=len(parent.knobs) if parent else 0,
                trainable=trainable,
                trials=trials,
                history=history,
                knob_problem=parent.problem if parent else "",
            )
        )
        if lever == "harness":
            assert parent is not None
            return propose_knobs(ctx, parent, why, self.trials, probe=self.probe)
        return self._weights(ctx, why)

    def _weights(self, ctx: FeedbackContext, why: str) -> Decision:
        report = ctx.reward_report
        if report is None or report.recommended is None:
            raise BackendCannotAct("no reward-shape report to choose an algorithm from")
        # With several candidates, the k-th takes the k-th ranked algorithm, so that an
        # offline run does not hang on the classifier ranking the best one first.
        ranking = list(report.ranking) or [report.recommended]
        choice = ranking[(ctx.candidate - 1) % len(ranking)]
        plan = {**ROLLOUT_PLANS.get(report.label, {}), **self.rollout}
        rationale = (
            f"{why}; rewards look {report.label} ({report.explanation}); "
            f"{choice} {report.reasons.get(choice, '')}".strip()
        )
        if plan:
            rationale += "; rollout plan: " + ", ".join(f"{k} {v}" for k, v in plan.items())
        return Decision(
            lever="weights",
            algorithm=choice,
            rationale=rationale,
            hyperparameters={"rollout": dict(plan)} if plan else {},
            source="heuristic: reward-shape classifier",
        )
