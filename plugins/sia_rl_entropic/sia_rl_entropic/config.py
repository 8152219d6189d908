"""Entropic advantage weighting hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

from sia_core.api import RLConfig, option


@dataclass
class EntropicConfig(RLConfig):
    temperature: float = option(
        0.1,
        "softmax temperature over rewards within a group; small: the best run takes the "
        "weight (not the sampling temperature, which is the rollout's)",
        min=1e-4,
        max=100.0,
    )
    negative_weight: float = option(
        0.0,
        "weight of the push-down on a group's below-par runs (0: imitate the best only)",
        min=0.0,
        max=1.0,
    )
