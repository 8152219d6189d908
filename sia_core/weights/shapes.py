"""How an RL algorithm describes itself, and what a reward-shape classifier says of a
generation's rewards: the vocabulary the weights lever, the classifiers and the backends
share (plain records, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AlgorithmInfo:
    """How an RL algorithm describes itself to the classifier and the Feedback-Agent."""

    name: str
    summary: str
    reward_shapes: tuple[str, ...]
    needs_value_model: bool


@dataclass(frozen=True)
class ShapeReport:
    label: str
    explanation: str
    stats: dict[str, float]
    ranking: list[str] = field(default_factory=list)
    """Installed algorithm names, best first for this shape."""
    reasons: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "explanation": self.explanation,
            "stats": self.stats,
            "ranking": self.ranking,
            "reasons": self.reasons,
        }

    @property
    def recommended(self) -> str | None:
        return self.ranking[0] if self.ranking else None
