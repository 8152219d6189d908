"""Entry point of sia-rl-entropic: registration only; the trainer is imported on use."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import AlgorithmInfo, RLAlgorithmSpec, hookimpl
from sia_rl_entropic.config import EntropicConfig


@hookimpl
def register_rl_algorithms(register: Callable[[RLAlgorithmSpec], None]) -> None:
    register(
        RLAlgorithmSpec(
            info=AlgorithmInfo(
                name="entropic",
                summary="Entropic advantage weighting: within an item's group of runs, weights "
                "are a softmax of reward over a temperature, so the rare high-reward runs "
                "dominate the update (best-of-N imitation as the temperature goes to 0). Groups "
                "without a success add nothing and cannot drown the few that have one. For "
                "mostly-failing or right-skewed rewards.",
                reward_shapes=("sparse", "heavy-tailed"),
                needs_value_model=False,
            ),
            trainer="sia_rl_entropic.trainer:train",
            config=EntropicConfig,
        )
    )
