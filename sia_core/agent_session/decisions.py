"""Checking the decision.json a Feedback-Agent wrote, and the fallback when it cannot."""

from __future__ import annotations

import json
from pathlib import Path

from sia_core.backends.contract import Decision, FeedbackContext
from sia_core.options import OptionError
from sia_core.weights.plan import plan_for


class DecisionError(ValueError):
    """What is wrong with decision.json, phrased to be sent back to the agent."""


def check(workspace: Path, ctx: FeedbackContext) -> Decision:
    path = workspace / "decision.json"
    if not path.is_file():
        raise DecisionError("no decision.json was written in the working directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecisionError(f"decision.json is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DecisionError("decision.json must be a JSON object")
    data.pop("source", None)  # who decided is the engine's to say
    try:
        decision = Decision.from_dict(data)
    except ValueError as exc:
        raise DecisionError(f"decision.json: {exc}") from None
    if decision.lever != "harness":
        names = [a.name for a in ctx.algorithms]
        if decision.algorithm not in names:
            raise DecisionError(
                f"algorithm {decision.algorithm!r} is not installed; installed: "
                f"{', '.join(names) or 'none'}"
            )
        if not ctx.weights_available:
            raise DecisionError(
                "the weights lever is not available in this run (the task model is not an "
                'open-weight model the engine trains); use "lever": "harness"'
            )
        try:
            name = decision.algorithm or ""
            plan_for(decision.hyperparameters, name, ctx.algorithm_configs.get(name))
        except OptionError as exc:
            raise DecisionError(f"decision.json hyperparameters: {exc}") from None
    else:
        decision.algorithm = None
    if decision.lever in ("harness", "both") and not (workspace / "target_agent.py").is_file():
        raise DecisionError(
            f'lever "{decision.lever}" needs target_agent.py in the working directory'
        )
    return decision


def fallback(ctx: FeedbackContext, why: str) -> Decision:
    """The reward-shape classifier's recommendation, or the parent's harness unchanged."""
    report = ctx.reward_report
    if ctx.weights_available and report is not None and report.recommended:
        return Decision(
            lever="weights",
            algorithm=report.recommended,
            rationale=(
                f"the classifier's recommendation for {report.label} rewards: {report.recommended}"
            ),
            source=f"fallback: {why}",
        )
    return Decision(
        lever="harness",
        rationale="the parent's harness, unchanged: the agent gave no usable decision",
        source=f"fallback: {why}",
    )
