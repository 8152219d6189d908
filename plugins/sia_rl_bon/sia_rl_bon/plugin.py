"""Entry point of sia-rl-bon: registration only; the trainer is imported on use."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import AlgorithmInfo, RLAlgorithmSpec, hookimpl
from sia_rl_bon.config import BoNConfig


@hookimpl
def register_rl_algorithms(register: Callable[[RLAlgorithmSpec], None]) -> None:
    register(
        RLAlgorithmSpec(
            info=AlgorithmInfo(
                name="bon",
                summary="Best-of-N behaviour cloning (rejection-sampling fine-tuning): from each "
                "item's K runs keep the best ones whose reward clears a threshold and train on "
                "their calls with the plain negative log-likelihood. Failing runs are ignored, "
                "so a few successes among many failures are all it needs: for sparse 0/1 "
                "rewards.",
                reward_shapes=("sparse", "binary"),
                needs_value_model=False,
            ),
            trainer="sia_rl_bon.trainer:train",
            config=BoNConfig,
        )
    )
