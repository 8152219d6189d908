"""Entropic advantage weighting hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.rl import config_from


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
        config = config_from(cls, data, "entropic")
        if config.temperature <= 0:
            raise ValueError("entropic temperature must be positive")
        return config
