"""REINFORCE with a leave-one-out baseline: hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.api import option, parse


@dataclass
class ReinforceConfig:
    kl_beta: float = option(
        0.05,
        "weight of the KL penalty (k3 estimate) to the adapter-free reference model",
        min=0.0,
        max=10.0,
    )
    epochs: int = option(
        1,
        "passes over the batch per training round (REINFORCE is on-policy: keep 1)",
        min=1,
        max=20,
    )
    minibatch_size: int = option(16, "calls per optimiser step", min=1, max=4096)
    max_grad_norm: float = option(1.0, "gradient clipping norm", min=0.0, max=100.0)
    learning_rate: float | None = option(
        None, "LoRA learning rate (null: the run's --lora-lr)", min=0.0, max=1.0
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReinforceConfig:
        return parse(cls, data, "reinforce")
