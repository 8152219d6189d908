"""GRPO hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

from sia_core.api import RLConfig, option


@dataclass
class GRPOConfig(RLConfig):
    epochs: int = option(1, "passes over the batch per training round", min=1, max=20)
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
