"""Entropic advantage weighting hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.api import option, parse


@dataclass
class EntropicConfig:
    temperature: float = option(
        0.1,
        "softmax temperature over rewards within a group; small: the best run takes the "
        "weight (not the sampling temperature, which is the rollout's)",
        min=1e-4,
        max=100.0,
    )
    epochs: int = option(2, "passes over the batch per training round", min=1, max=20)
    minibatch_size: int = option(16, "samples per optimiser step", min=1, max=4096)
    negative_weight: float = option(
        0.0,
        "weight of the push-down on a group's below-par runs (0: imitate the best only)",
        min=0.0,
        max=1.0,
    )
    max_grad_norm: float = option(1.0, "gradient clipping norm", min=0.0, max=100.0)
    learning_rate: float | None = option(
        None, "LoRA learning rate (null: the run's --lora-lr)", min=0.0, max=1.0
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntropicConfig:
        return parse(cls, data, "entropic")
