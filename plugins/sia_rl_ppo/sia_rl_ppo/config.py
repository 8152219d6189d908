"""PPO + GAE hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

from sia_core.api import RLConfig, option


@dataclass
class PPOConfig(RLConfig):
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
