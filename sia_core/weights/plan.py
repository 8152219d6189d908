"""A weights decision's plan, checked: the rollout part (the engine's) and the algorithm
part (the plugin's typed config). Light on purpose: `sia plugins` and the Feedback-Agent's
briefing describe these options without loading the weights lever."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sia_core.options import OptionError, option, parse
from sia_core.options import describe as describe_options


@dataclass(frozen=True)
class RolloutPlan:
    """How much to sample before training: the "rollout" part of a decision's
    hyperparameters. The algorithm's own options are its "algorithm" part."""

    k: int = option(8, "runs of the harness per training item (the group size)", min=2, max=64)
    items: int = option(32, "training items drawn per round", min=1, max=1000)
    rounds: int = option(2, "rollout-then-train rounds in one generation", min=1, max=10)
    temperature: float = option(
        1.0, "sampling temperature imposed on every call during rollouts", min=0.01, max=2.0
    )


@dataclass(frozen=True)
class WeightsPlan:
    """A weights decision, checked: the rollout plan and the algorithm's options."""

    rollout: RolloutPlan
    config: Any
    """The algorithm's typed config (an instance of its registered config class), parsed
    here once and handed to its trainer as it is; None: the algorithm takes no options."""


def plan_for(hyperparameters: dict[str, Any], algorithm: str, config: type | None) -> WeightsPlan:
    """Check a decision's hyperparameters against the rollout plan and the algorithm's
    typed config (None: it takes no options), before anything runs; OptionError names
    what is wrong."""
    if not isinstance(hyperparameters, dict):
        raise OptionError("hyperparameters must be an object")
    unknown = set(hyperparameters) - {"rollout", "algorithm"}
    if unknown:
        raise OptionError(
            f'hyperparameters has two parts, "rollout" ({", ".join(ROLLOUT_KEYS)}) and '
            f'"algorithm" ({algorithm}\'s options); {sorted(unknown)[0]!r} is neither'
        )
    rollout = parse(RolloutPlan, hyperparameters.get("rollout"), "rollout")
    given = hyperparameters.get("algorithm") or {}
    if config is None:
        if given:
            raise OptionError(f"{algorithm} takes no options; got {sorted(given)[0]!r}")
        return WeightsPlan(rollout, None)
    return WeightsPlan(rollout, parse(config, given, algorithm))


ROLLOUT_KEYS = tuple(f.name for f in fields(RolloutPlan))


def options_text(config: type | None) -> str:
    """An algorithm's options, one line each, for the Feedback-Agent and `sia plugins`."""
    lines = [f"  - {o.line()}" for o in describe_options(config)] if config else []
    return "\n".join(lines) or "  (no options)"


def rollout_text() -> str:
    return "\n".join(f"  - {o.line()}" for o in describe_options(RolloutPlan))
