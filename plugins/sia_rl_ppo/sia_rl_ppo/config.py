"""PPO + GAE hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.rl import config_from


@dataclass
class PPOConfig:
    epochs: int = 2
    minibatch_size: int = 16
    clip_epsilon: float = 0.2
    value_clip: float = 0.2
    value_coef: float = 0.5
    gamma: float = 1.0
    """Discount over completion tokens (1: the outcome counts fully at every token)."""
    lam: float = 0.95
    """GAE lambda."""
    kl_beta: float = 0.05
    """Per-token KL penalty to the reference model, folded into the token rewards."""
    whiten_advantages: bool = True
    value_learning_rate: float = 1e-3
    max_grad_norm: float = 1.0
    learning_rate: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PPOConfig:
        return config_from(cls, data, "ppo")
