"""A third-party RL algorithm: best-of-N behaviour cloning, registered via the entry point."""

from sia_core.api import AlgorithmInfo, RLAlgorithmSpec, hookimpl


@hookimpl
def register_rl_algorithms(register):
    register(
        RLAlgorithmSpec(
            info=AlgorithmInfo(
                name="toy-bc",
                summary="Imitate the best run of each group.",
                reward_shapes=("sparse",),
                needs_value_model=False,
            ),
            trainer="sia_rl_toy.trainer:train",
        )
    )
