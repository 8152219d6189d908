"""Entry point of sia-rl-ppo: registration only; the trainer is imported on use."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import AlgorithmInfo, RLAlgorithmSpec, hookimpl
from sia_rl_ppo.config import PPOConfig


@hookimpl
def register_rl_algorithms(register: Callable[[RLAlgorithmSpec], None]) -> None:
    register(
        RLAlgorithmSpec(
            info=AlgorithmInfo(
                name="ppo",
                summary="PPO with generalised advantage estimation: a value head on the policy "
                "estimates each token's return; token-level GAE (gamma, lambda) over the outcome "
                "reward and a per-token KL penalty to the reference model; clipped policy and "
                "value losses. For dense, clean outcome rewards.",
                reward_shapes=("dense", "binary"),
                needs_value_model=True,
            ),
            trainer="sia_rl_ppo.trainer:train",
            config=PPOConfig,
        )
    )
