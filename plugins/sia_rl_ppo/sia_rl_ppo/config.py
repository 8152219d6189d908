"""PPO + GAE hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.api import option, parse


@dataclass
class PPOConfig:
    epochs: int = option(2, "passes over the batch per training round", min=1, max=20)
    minibatch_size: int = option(16, "samples per optimiser step", min=1, max=4096)
    clip_epsilon: float = option(0.2, "PPO ratio clip", min=0.0, max=1.0)
    value_clip: float = option(0.2, "clip of the value head's update", min=0.0, max=10.0)
    value_coef: float = option(0.5, "weight of the value loss", min=0.0, max=10.0)
    gamma: float = option(
        1.0,
        "discount over completion tokens (1: the outcome counts at every token)",
        min=0.0,
        max=1.0,
    )
    lam: float = option(0.95, "GAE lambda", min=0.0, max=1.0)
    kl_beta: float = option(
        0.05,
        "per-token KL penalty to the reference model, folded into the token rewards",
        min=0.0,
        max=10.0,
    )
    whiten_advantages: bool = option(True, "normalise advantages over the batch")
    value_learning_rate: float = option(1e-3, "learning rate of the value head", min=0.0, max=1.0)
    max_grad_norm: float = option(1.0, "gradient clipping norm", min=0.0, max=100.0)
    learning_rate: float | None = option(
        None, "LoRA learning rate (null: the run's --lora-lr)", min=0.0, max=1.0
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PPOConfig:
        return parse(cls, data, "ppo")
