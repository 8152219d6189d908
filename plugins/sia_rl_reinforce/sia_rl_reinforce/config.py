"""REINFORCE with a leave-one-out baseline: hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

from sia_core.api import RLConfig, option


@dataclass
class ReinforceConfig(RLConfig):
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
