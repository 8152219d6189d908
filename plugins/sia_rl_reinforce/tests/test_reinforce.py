"""REINFORCE + KL: the leave-one-out baseline and the loss by hand; a learning test."""

from __future__ import annotations

import time

import pytest
import torch
from sia_rl_reinforce.config import ReinforceConfig
from sia_rl_reinforce.trainer import leave_one_out, policy_gradient_loss, train

from sia_core.options import OptionError
from sia_core.testing.tiny import learn


def test_leave_one_out_baseline_by_hand() -> None:
    # run 0: 1 - mean(0, 0, 1) = 2/3; run 1: 0 - mean(1, 0, 1) = -2/3
    assert leave_one_out([1.0, 0.0, 0.0, 1.0]) == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3])
    assert leave_one_out([3.0, 1.0]) == [2.0, -2.0]
    assert leave_one_out([0.5, 0.5, 0.5]) == [0.0, 0.0, 0.0]
    assert leave_one_out([1.0]) == [0.0]


def test_policy_gradient_loss_by_hand() -> None:
    logprobs = torch.tensor([[-1.0, -3.0], [-0.5, -9.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    advantages = torch.tensor([2.0, -1.0])
    # row 0: -(2 · -2) = 4; row 1: -(-1 · -0.5) = -0.5 (the masked token does not count)
    assert float(policy_gradient_loss(logprobs, advantages, mask)) == pytest.approx(1.75)


def test_unknown_option_is_named() -> None:
    with pytest.raises(OptionError, match="reinforce has no option 'baseline'"):
        ReinforceConfig.from_dict({"baseline": "loo"}, "reinforce")


def test_reinforce_learns_the_toy_objective_within_a_minute() -> None:
    started = time.monotonic()
    before, after = learn(train, ReinforceConfig(), steps=30)
    assert time.monotonic() - started < 60
    assert before < 0.2
    assert after > before + 0.3, (before, after)
