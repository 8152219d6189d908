"""Best-of-N cloning: selection and loss against hand-computed values; a learning test."""

from __future__ import annotations

import math
import time

import pytest
import torch
from sia_rl_bon.config import BoNConfig
from sia_rl_bon.trainer import best_runs, nll, train

from sia_core.options import OptionError
from sia_core.testing.tiny import learn
from sia_core.weights.rl import Group, Sample


def _group(rewards: dict[int, float], said: dict[int, int]) -> Group:
    return Group(
        "item", [Sample([1], [said[r]], [-1.0], reward, r) for r, reward in rewards.items()]
    )


def test_keeps_the_distinct_best_runs_that_clear_the_threshold() -> None:
    group = _group({0: 0.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}, {0: 5, 1: 6, 2: 6, 3: 7, 4: 8})
    kept = best_runs(group, threshold=1.0, per_group=2)
    # run 2 says what run 1 said; run 4 is past per_group
    assert [run[0].run for run in kept] == [1, 3]
    assert best_runs(_group({0: 0.5, 1: 0.0}, {0: 5, 1: 6}), threshold=1.0, per_group=2) == []
    [[only]] = best_runs(_group({0: 0.5, 1: 0.0}, {0: 5, 1: 6}), threshold=0.5, per_group=2)
    assert only.run == 0


def test_nll_by_hand() -> None:
    logprobs = torch.log(torch.tensor([[0.5, 0.25], [0.1, 1.0]]))
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    expected = ((-(math.log(0.5) + math.log(0.25)) / 2) + -math.log(0.1)) / 2  # 1.671144
    assert float(nll(logprobs, mask)) == pytest.approx(expected)


def test_unknown_option_is_named() -> None:
    with pytest.raises(OptionError, match="bon has no option 'top_k'"):
        BoNConfig.from_dict({"top_k": 2}, "bon")


def test_nothing_to_clone_trains_nothing() -> None:
    from sia_core.weights.rl import PolicyHandle, RLBatch

    result = train(
        RLBatch([_group({0: 0.0, 1: 0.0}, {0: 5, 1: 6})]),
        PolicyHandle(None, None, 0.1),
        BoNConfig(),
    )
    assert result.metrics["steps"] == 0.0 and result.metrics["groups_kept"] == 0.0


def test_bon_learns_the_toy_objective_within_a_minute() -> None:
    started = time.monotonic()
    before, after = learn(train, BoNConfig(), steps=30)
    assert time.monotonic() - started < 60
    assert before < 0.2
    assert after > before + 0.3, (before, after)
