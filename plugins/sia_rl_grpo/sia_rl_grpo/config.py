"""GRPO hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.rl import config_from


@dataclass
class GRPOConfig:
    epochs: int = 1
    minibatch_size: int = 16
    clip_epsilon: float = 0.2
    kl_beta: float = 0.0
    """Weight of the k3 KL estimate to the reference model (0: no KL, as in DAPO/Dr GRPO)."""
    scale_rewards: bool = True
    """Divide by the group's standard deviation (the original GRPO)."""
    max_grad_norm: float = 1.0
    learning_rate: float | None = None
    """None: the policy's LoRA learning rate."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GRPOConfig:
        return config_from(cls, data, "grpo")
