"""No LLM: generation 1 is the reference agent; later generations pull the weights lever
with the algorithm that the reward-shape classifier ranks first, and a rollout plan for
the shape of the rewards."""

from __future__ import annotations

from collections.abc import Mapping

from sia_core.backend_api import (
    BackendCannotAct,
    Decision,
    FeedbackContext,
    MetaContext,
    NothingLeftToImprove,
    start_from_reference,
)
from sia_core.errors import SiaError

# When successes are rare each round of rollouts finds only a few, and training on them
# raises the next round's success rate: more, shorter sample-then-train iterations
# compound where two long ones do not (measured on arithmetic: docs/configuration.md,
# "Which algorithm for which rewards").
ROLLOUT_PLANS: dict[str, dict[str, int]] = {"sparse": {"rounds": 4}}


class HeuristicBackend:
    name = "heuristic"

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> HeuristicBackend:
        if options:
            raise SiaError(f"backend 'heuristic' takes no options, got {sorted(options)[0]!r}")
        return cls()

    def initial(self, ctx: MetaContext) -> Decision:
        return start_from_reference(ctx, "the heuristic backend starts from the reference agent")

    def feedback(self, ctx: FeedbackContext) -> Decision:
        if not ctx.algorithms:
            raise BackendCannotAct(
                "the heuristic backend only pulls the weights lever, and no RL algorithm is "
                "installed; install one (e.g. plugins/sia_rl_grpo) or use another backend"
            )
        if not ctx.weights_available:
            raise BackendCannotAct(
                "the heuristic backend only pulls the weights lever, and the task model is "
                "not an open-weight model this engine can train"
            )
        report = ctx.reward_report
        if report is None or report.recommended is None:
            raise BackendCannotAct("no reward-shape report to choose an algorithm from")
        if report.label == "saturated":
            raise NothingLeftToImprove(
                "every selection item already gets the full reward: no "
                "generation can beat the incumbent"
            )
        # With several candidates, the k-th takes the k-th ranked algorithm, so that an
        # offline run does not hang on the classifier ranking the best one first.
        ranking = list(report.ranking) or [report.recommended]
        choice = ranking[(ctx.candidate - 1) % len(ranking)]
        plan = ROLLOUT_PLANS.get(report.label, {})
        rationale = (
            f"rewards look {report.label} ({report.explanation}); "
            f"{choice} {report.reasons.get(choice, '')}".strip()
        )
        if plan:
            rationale += "; rollout plan for this shape: " + ", ".join(
                f"{k} {v}" for k, v in plan.items()
            )
        return Decision(
            lever="weights",
            algorithm=choice,
            rationale=rationale,
            hyperparameters={"rollout": dict(plan)} if plan else {},
            source="heuristic: reward-shape classifier",
        )
