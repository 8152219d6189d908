"""PPO + GAE: GAE, token rewards and losses by hand; a learning test."""

from __future__ import annotations

import time

import pytest
import torch
from sia_rl_ppo.config import PPOConfig
from sia_rl_ppo.trainer import gae, policy_loss, token_rewards, train, value_loss

from sia_core.testing.tiny import learn


def test_gae_by_hand() -> None:
    # gamma 1, lambda 1: advantage = return - value, return = sum of future rewards
    adv, ret = gae([0.0, 0.0, 1.0], [0.2, 0.5, 0.9], gamma=1.0, lam=1.0)
    assert ret == pytest.approx([1.0, 1.0, 1.0])
    assert adv == pytest.approx([0.8, 0.5, 0.1])
    # lambda 0: one-step TD errors, delta_t = r_t + gamma V_{t+1} - V_t
    adv, _ = gae([0.0, 1.0], [0.5, 0.5], gamma=0.9, lam=0.0)
    assert adv == pytest.approx([0.0 + 0.9 * 0.5 - 0.5, 1.0 - 0.5])
    # gamma 0.5, lambda 0.5 by hand: deltas [0.5*0.5-0, 1-0.5] = [0.25, 0.5]
    adv, _ = gae([0.0, 1.0], [0.0, 0.5], gamma=0.5, lam=0.5)
    assert adv == pytest.approx([0.25 + 0.25 * 0.5, 0.5])


def test_token_rewards_carry_kl_and_outcome() -> None:
    rewards = token_rewards(1.0, [-1.0, -2.0], [-1.5, -2.0], kl_beta=0.1)
    assert rewards == pytest.approx([-0.05, 1.0])


def test_losses_by_hand() -> None:
    mask = torch.tensor([[1.0, 1.0]])
    new = torch.log(torch.tensor([[1.5, 0.5]]))
    adv = torch.tensor([[1.0, 1.0]])
    # ratios 1.5 -> clipped 1.2; 0.5 -> min(0.5, 0.8) = 0.5; loss -(1.2 + 0.5) / 2
    assert float(policy_loss(new, torch.zeros(1, 2), adv, mask, 0.2)) == pytest.approx(-0.85)
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.5, 0.0]])
    returns = torch.tensor([[0.0, 1.0]])
    # token 0: max((1-0)^2, (0.7-0)^2) = 1; token 1: max(1, 1) = 1; 0.5 * mean = 0.5
    assert float(value_loss(values, old, returns, mask, 0.2)) == pytest.approx(0.5)


def test_ppo_learns_the_toy_objective_on_most_of_five_seeds() -> None:
    # Over seeds: from a 0-14% start one seed's 30 steps may see almost no success to
    # learn from (seeds 0-12: a gain of 0.0 on 2 of 13, above 0.6 on 8).
    started = time.monotonic()
    gains = []
    for seed in range(5):
        before, after = learn(train, PPOConfig(kl_beta=0.0), steps=30, seed=seed)
        gains.append(after - before)
    assert time.monotonic() - started < 90
    assert sum(gains) / len(gains) > 0.3 and sum(g > 0.1 for g in gains) >= 3, gains
