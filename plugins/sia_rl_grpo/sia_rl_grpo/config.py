"""GRPO hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.api import option, parse


@dataclass
class GRPOConfig:
    epochs: int = option(1, "passes over the batch per training round", min=1, max=20)
    minibatch_size: int = option(16, "samples per optimiser step", min=1, max=4096)
    clip_epsilon: float = option(0.2, "PPO-style ratio clip", min=0.0, max=1.0)
    kl_beta: float = option(
        0.0,
        "weight of the k3 KL estimate to the reference model (0: none, as DAPO/Dr GRPO)",
        min=0.0,
        max=10.0,
    )
    scale_rewards: bool = option(
        True, "divide by the group's standard deviation (the original GRPO)"
    )
    max_grad_norm: float = option(1.0, "gradient clipping norm", min=0.0, max=100.0)
    learning_rate: float | None = option(
        None, "LoRA learning rate (null: the run's --lora-lr)", min=0.0, max=1.0
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GRPOConfig:
        return parse(cls, data, "grpo")
