"""A third party's own tests: they import sia-core's shipped testing kit, nothing of
sia's repository."""

from sia_rl_toy.trainer import train

from sia_core.testing.tiny import tiny_policy, toy_batch


def test_the_toy_trainer_sees_every_sample():
    policy = tiny_policy(seed=0)
    batch = toy_batch(policy, k=4)
    result = train(batch, policy, {})
    assert result.metrics["samples"] == float(len(batch.samples)) > 0
