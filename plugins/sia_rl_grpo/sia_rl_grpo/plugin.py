"""Entry point of sia-rl-grpo: registration only; the trainer is imported on use."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import AlgorithmInfo, RLAlgorithmSpec, hookimpl
from sia_rl_grpo.config import GRPOConfig


@hookimpl
def register_rl_algorithms(register: Callable[[RLAlgorithmSpec], None]) -> None:
    register(
        RLAlgorithmSpec(
            info=AlgorithmInfo(
                name="grpo",
                summary="Group Relative Policy Optimisation: each run's advantage is its reward "
                "minus the mean of its item's group, divided by the group's standard deviation; "
                "clipped importance ratio, optional KL to the reference model, no value model. "
                "Works when groups hold both successes and failures.",
                reward_shapes=("binary", "dense"),
                needs_value_model=False,
            ),
            trainer="sia_rl_grpo.trainer:train",
            config=GRPOConfig,
        )
    )
