"""Entropic advantage weighting: arithmetic by hand; learning when most groups fail."""

from __future__ import annotations

import math
import time

import pytest
import torch
from sia_rl_entropic.config import EntropicConfig
from sia_rl_entropic.trainer import entropic_advantages, entropic_weights, train, weighted_nll

from sia_core.testing.tiny import learn


def test_weights_are_a_softmax_over_temperature() -> None:
    e = math.exp(1.0)
    assert entropic_weights([1.0, 0.0], 1.0) == pytest.approx([e / (e + 1), 1 / (e + 1)])
    # a low temperature puts (almost) all weight on the best run
    assert entropic_weights([1.0, 0.0, 0.0, 0.0], 0.05)[0] > 0.999


def test_advantages_imitate_the_best_runs() -> None:
    adv = entropic_advantages([1.0, 0.0, 0.0, 0.0], temperature=0.05)
    assert adv[0] == pytest.approx(3.0, abs=1e-6)  # 4 * ~1 - 1
    assert adv[1:] == [0.0, 0.0, 0.0]  # negatives dropped at negative_weight 0
    both = entropic_advantages([1.0, 0.0], temperature=1.0, negative_weight=1.0)
    e = math.exp(1.0)
    assert both == pytest.approx([2 * e / (e + 1) - 1, 2 / (e + 1) - 1])
    assert entropic_advantages([0.0, 0.0, 0.0], 0.1) == [0.0, 0.0, 0.0]


def test_weighted_nll_by_hand() -> None:
    logprobs = torch.tensor([[-1.0, -3.0], [-2.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    weights = torch.tensor([3.0, 1.0])
    # sequence means -2 and -2; -(3 * -2 + 1 * -2) / 4 = 2
    assert float(weighted_nll(logprobs, weights, mask)) == pytest.approx(2.0)


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="temperature must be ≥ 0.0001"):
        EntropicConfig.from_dict({"temperature": 0}, "entropic")


def test_entropic_learns_when_most_groups_have_no_success() -> None:
    # The target token "4" is rare for the untrained tiny model: with 8 samples per
    # prompt, most groups hold no success at all.
    started = time.monotonic()
    before, after = learn(train, EntropicConfig(), steps=30, target="4")
    assert time.monotonic() - started < 60
    assert before < 0.1
    assert after > before + 0.3, (before, after)
