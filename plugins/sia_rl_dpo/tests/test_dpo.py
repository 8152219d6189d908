"""DPO: pairing and loss against hand-computed values; a learning test; config refusals."""

from __future__ import annotations

import math
import time

import pytest
import torch
from sia_rl_dpo.config import DPOConfig
from sia_rl_dpo.trainer import dpo_loss, preference_pairs, train

from sia_core.options import OptionError
from sia_core.testing.tiny import learn
from sia_core.weights.rl import Group, Sample


def _group(rewards: dict[int, float], said: dict[int, list[int]] | None = None) -> Group:
    said = said or {run: [run + 10] for run in rewards}
    return Group(
        "item", [Sample([1, 2], said[r], [-0.5], reward, r) for r, reward in rewards.items()]
    )


def test_best_against_worst_and_every_pair_above_a_margin() -> None:
    group = _group({0: 1.0, 1: 0.0, 2: 0.5})
    [pair] = preference_pairs(group, "best-worst")
    assert (pair.chosen[0].run, pair.rejected[0].run, pair.gap) == (0, 1, 1.0)
    every = preference_pairs(group, "all", margin=0.4)
    assert [(p.chosen[0].run, p.rejected[0].run) for p in every] == [(0, 2), (0, 1), (2, 1)]
    assert [(p.chosen[0].run, p.rejected[0].run) for p in preference_pairs(group, "all", 0.6)] == [
        (0, 1)
    ]


def test_no_pair_without_contrast_or_between_identical_outputs() -> None:
    assert preference_pairs(_group({0: 1.0, 1: 1.0})) == []
    assert preference_pairs(_group({0: 1.0, 1: 0.0}, {0: [7], 1: [7]})) == []


def test_loss_by_hand() -> None:
    # chosen gains 1 nat over the reference, rejected loses 1: Δ = 2, βΔ = 1
    args = [torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0])]
    loss, margin = dpo_loss(*args, beta=0.5)
    assert float(margin[0]) == pytest.approx(1.0)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-1)))  # 0.313262
    smoothed, _ = dpo_loss(*args, beta=0.5, label_smoothing=0.1)
    # 0.9 · log(1 + e^-1) + 0.1 · log(1 + e^1)
    assert float(smoothed) == pytest.approx(0.9 * 0.3132617 + 0.1 * 1.3132617)


def test_unknown_or_invalid_options_are_named() -> None:
    with pytest.raises(OptionError, match="dpo has no option 'betta'"):
        DPOConfig.from_dict({"betta": 0.1}, "dpo")
    with pytest.raises(OptionError, match="pairing must be one of best-worst, all"):
        DPOConfig.from_dict({"pairing": "random"}, "dpo")


def test_dpo_learns_the_toy_objective_within_a_minute() -> None:
    started = time.monotonic()
    before, after = learn(train, DPOConfig(beta=0.5, pairing="all"), steps=30)
    assert time.monotonic() - started < 60
    assert before < 0.2
    assert after > before + 0.3, (before, after)
