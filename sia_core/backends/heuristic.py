"""No LLM: generation 1 is the reference agent; later generations pull the weights lever
with the algorithm that the reward-shape classifier ranks first."""

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
        choice = report.recommended
        return Decision(
            lever="weights",
            algorithm=choice,
            rationale=f"rewards look {report.label} ({report.explanation}); "
            f"{choice} {report.reasons.get(choice, '')}".strip(),
            source="heuristic: reward-shape classifier",
        )
