"""Entropic advantage weighting over the logged calls of K runs per item."""

from __future__ import annotations

import math
import statistics
from typing import Any

from sia_core.api import PolicyHandle, RLBatch, TrainResult, completion_logprobs, optimise
from sia_rl_entropic.config import EntropicConfig


def entropic_weights(rewards: list[float], temperature: float) -> list[float]:
    """softmax(r / T) within a group (shifted by the max for stability)."""
    top = max(rewards)
    exps = [math.exp((r - top) / temperature) for r in rewards]
    total = sum(exps)
    return [e / total for e in exps]


def entropic_advantages(
    rewards: list[float], temperature: float, negative_weight: float = 0.0
) -> list[float]:
    """K * w_i - 1: the excess of each run's softmax weight over a uniform share.

    A group without contrast gets zeros. Negative values (runs below their share) are
    scaled by `negative_weight`: at 0 the update only imitates the group's best runs.
    """
    if max(rewards) - min(rewards) < 1e-9:
        return [0.0] * len(rewards)
    k = len(rewards)
    raw = [k * w - 1.0 for w in entropic_weights(rewards, temperature)]
    return [a if a > 0 else a * negative_weight for a in raw]


def weighted_nll(logprobs: Any, weights: Any, mask: Any) -> Any:
    """-sum_i A_i * mean_t logp_{i,t}, over the sum of positive weights."""
    per_sequence = (logprobs * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return -(weights * per_sequence).sum() / weights.clamp(min=0).sum().clamp(min=1e-6)


def train(batch: RLBatch, policy: PolicyHandle, cfg: EntropicConfig) -> TrainResult:
    import torch

    weighted = []
    contrast_groups = 0
    for group in batch.groups:
        runs = sorted(group.run_rewards)
        advantages = entropic_advantages(
            [group.run_rewards[r] for r in runs], cfg.temperature, cfg.negative_weight
        )
        by_run = dict(zip(runs, advantages, strict=True))
        contrast_groups += any(a != 0 for a in advantages)
        weighted += [(s, by_run[s.run]) for s in group.samples if by_run[s.run] != 0.0]
    metrics = {
        "samples": float(len(batch.samples)),
        "informative_samples": float(len(weighted)),
        "groups_with_contrast": float(contrast_groups),
        "mean_reward": statistics.fmean(batch.rewards) if batch.rewards else 0.0,
        "weight_temperature": cfg.temperature,
    }
    if not weighted:
        metrics["steps"] = 0.0
        return TrainResult(metrics=metrics)

    def loss_of(chunk: list[tuple[Any, float]]) -> Any:
        logprobs, mask = completion_logprobs(policy.model, [s for s, _ in chunk])
        weights = torch.tensor([a for _, a in chunk], device=logprobs.device)
        return weighted_nll(logprobs, weights, mask)

    losses = optimise(policy, weighted, loss_of, cfg)
    metrics.update(steps=float(len(losses)), loss=statistics.fmean(losses))
    return TrainResult(metrics=metrics)
