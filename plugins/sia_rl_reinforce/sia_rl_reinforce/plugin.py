"""Entry point of sia-rl-reinforce: registration only; the trainer is imported on use."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import AlgorithmInfo, RLAlgorithmSpec, hookimpl
from sia_rl_reinforce.config import ReinforceConfig


@hookimpl
def register_rl_algorithms(register: Callable[[RLAlgorithmSpec], None]) -> None:
    register(
        RLAlgorithmSpec(
            info=AlgorithmInfo(
                name="reinforce",
                summary="REINFORCE with a leave-one-out baseline (RLOO): each run's advantage is "
                "its reward minus the mean of the other runs of its item, unscaled, so reward "
                "magnitudes carry through; a KL penalty to the adapter-free reference keeps the "
                "policy near it. No clipping, no value model: for dense, graded rewards.",
                reward_shapes=("dense", "binary"),
                needs_value_model=False,
            ),
            trainer="sia_rl_reinforce.trainer:train",
            config=ReinforceConfig,
        )
    )
