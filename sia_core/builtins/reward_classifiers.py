"""Built-in reward-shape classifier `stats`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sia_core.api import hookimpl
from sia_core.specs import RewardClassifierSpec
from sia_core.weights.shapes import AlgorithmInfo


def _classify(rewards: Sequence[float], algorithms: Sequence[AlgorithmInfo]):  # noqa: ANN202
    from sia_core.weights.reward_shape import classify

    return classify(rewards, algorithms)


@hookimpl
def register_reward_classifiers(register: Callable[[RewardClassifierSpec], None]) -> None:
    register(
        RewardClassifierSpec(
            name="stats",
            summary="Labels rewards binary / sparse / dense / heavy-tailed from their "
            "statistics and ranks the installed algorithms by the shapes they suit.",
            classify=_classify,
        )
    )
