"""Entry point of sia-rl-dpo: registration only; the trainer is imported on use."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import AlgorithmInfo, RLAlgorithmSpec, hookimpl
from sia_rl_dpo.config import DPOConfig


@hookimpl
def register_rl_algorithms(register: Callable[[RLAlgorithmSpec], None]) -> None:
    register(
        RLAlgorithmSpec(
            info=AlgorithmInfo(
                name="dpo",
                summary="Direct Preference Optimisation: an item's runs ranked by reward make "
                "preference pairs (best against worst, or every pair above a margin); the loss "
                "raises the chosen run's log-likelihood ratio to the adapter-free reference over "
                "the rejected run's. Only the order of rewards matters, not their scale: for "
                "graded or noisy rewards with contrast inside groups.",
                reward_shapes=("dense", "heavy-tailed", "binary"),
                needs_value_model=False,
            ),
            trainer="sia_rl_dpo.trainer:train",
            config=DPOConfig,
        )
    )
