"""Entropic advantage weighting hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class EntropicConfig:
    temperature: float = 0.1
    """Softmax temperature over rewards; small: the best run of a group takes the weight."""
    epochs: int = 2
    minibatch_size: int = 16
    negative_weight: float = 0.0
    """Weight of the push-down on a group's below-par runs (0: imitate the best only)."""
    max_grad_norm: float = 1.0
    learning_rate: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntropicConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"entropic has no hyperparameter {sorted(unknown)[0]!r}; "
                f"known: {', '.join(sorted(known))}"
            )
        if data.get("temperature", 1.0) <= 0:
            raise ValueError("entropic temperature must be positive")
        return cls(**data)
