"""A weights candidate's first round of rollouts, kept for the generation's later weights
candidates that would sample the very same thing (see docs/configuration.md,
"Candidates and the keep rule")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sia_core.weights.plan import RolloutPlan
    from sia_core.weights.rl import RLBatch


@dataclass(frozen=True)
class SharedRound:
    """A weights candidate's first round of rollouts, for the generation's later weights
    candidates that would sample the very same thing: same parent adapter, harness,
    environment, rollout plan and training items. Later rounds sample each candidate's
    own trained adapter and are never shared."""

    key: tuple[Any, ...]
    candidate: int
    batch: RLBatch
    summary: dict[str, Any]


def round_key(
    number: int, adapter_gen: int | None, agent: Path, python: str, plan: RolloutPlan
) -> tuple[Any, ...]:
    digest = hashlib.sha256(agent.read_bytes()).hexdigest()
    return (number, adapter_gen, digest, python, plan.k, plan.items, plan.temperature)
