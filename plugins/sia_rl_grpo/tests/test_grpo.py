"""GRPO: advantage and loss arithmetic against hand-computed values; a learning test."""

from __future__ import annotations

import time

import pytest
import torch
from sia_rl_grpo.config import GRPOConfig
from sia_rl_grpo.trainer import clipped_surrogate, group_advantages, train

from sia_core.testing.tiny import learn
from sia_core.weights.rl import k3_kl


def test_group_advantages_by_hand() -> None:
    # mean 0.5, population std 0.5
    assert group_advantages([1.0, 0.0, 0.0, 1.0]) == [1.0, -1.0, -1.0, 1.0]
    assert group_advantages([1.0, 0.0, 0.0, 1.0], scale=False) == [0.5, -0.5, -0.5, 0.5]
    # mean 1, std sqrt(2/3)
    assert group_advantages([0.0, 1.0, 2.0]) == pytest.approx([-1.224745, 0.0, 1.224745])
    assert group_advantages([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]


def test_clipped_surrogate_by_hand() -> None:
    old = torch.zeros(2, 2)
    new = torch.log(torch.tensor([[1.5, 1.0], [0.5, 1.0]]))
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([1.0, -1.0])
    # row 0: ratios 1.5 (clipped to 1.2), 1.0 -> -(1.2 + 1.0) / 2 = -1.1
    # row 1: ratio 0.5, A=-1: min(-0.5, -0.8) = -0.8 -> loss 0.8 (second token masked)
    loss = clipped_surrogate(new, old, adv, mask, epsilon=0.2)
    assert float(loss) == pytest.approx((-1.1 + 0.8) / 2)


def test_k3_kl_by_hand() -> None:
    logp = torch.tensor([[0.0, -1.0]])
    ref = torch.tensor([[-1.0, -1.0]])
    expected = (torch.exp(torch.tensor(-1.0)) + 1 - 1) / 2  # second token: 0
    assert float(k3_kl(logp, ref, torch.ones(1, 2))) == pytest.approx(float(expected))


def test_unknown_hyperparameter_is_named() -> None:
    with pytest.raises(ValueError, match="grpo has no option 'clip'"):
        GRPOConfig.from_dict({"clip": 0.1}, "grpo")


def test_grpo_learns_the_toy_objective_within_a_minute() -> None:
    started = time.monotonic()
    before, after = learn(train, GRPOConfig(minibatch_size=32), steps=30)
    assert time.monotonic() - started < 60
    assert before < 0.2
    assert after > before + 0.3, (before, after)
