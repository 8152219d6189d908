"""GRPO over the logged calls of K runs per item."""

from __future__ import annotations

import statistics
from typing import Any

from sia_core.api import (
    PolicyHandle,
    RLBatch,
    TrainResult,
    completion_logprobs,
    optimise,
    reference_kl,
)
from sia_rl_grpo.config import GRPOConfig


def group_advantages(rewards: list[float], scale: bool = True, eps: float = 1e-4) -> list[float]:
    """(r - mean) / std within one group; all zeros when the group has no contrast."""
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards)
    if std < eps:
        return [0.0] * len(rewards)
    return [(r - mean) / (std if scale else 1.0) for r in rewards]


def clipped_surrogate(
    logprobs: Any, old_logprobs: Any, advantages: Any, mask: Any, epsilon: float
) -> Any:
    """Per-sequence mean of -min(ratio * A, clip(ratio) * A), averaged over sequences."""
    import torch

    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.unsqueeze(-1)
    loss = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    per_sequence = (loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return per_sequence.mean()


def train(batch: RLBatch, policy: PolicyHandle, cfg: GRPOConfig) -> TrainResult:
    import torch

    weighted = []
    for group in batch.groups:
        runs = sorted(group.run_rewards)
        advantage = dict(
            zip(
                runs,
                group_advantages([group.run_rewards[r] for r in runs], cfg.scale_rewards),
                strict=True,
            )
        )
        weighted += [(s, advantage[s.run]) for s in group.samples if advantage[s.run] != 0.0]
    metrics = {
        "samples": float(len(batch.samples)),
        "informative_samples": float(len(weighted)),
        "mean_reward": statistics.fmean(batch.rewards) if batch.rewards else 0.0,
    }
    if not weighted:
        metrics["steps"] = 0.0
        return TrainResult(metrics=metrics)
    kls: list[float] = []

    def loss_of(chunk: list[tuple[Any, float]]) -> Any:
        samples = [s for s, _ in chunk]
        advantages = torch.tensor([a for _, a in chunk])
        logprobs, mask = completion_logprobs(policy.model, samples)
        width = logprobs.size(1)
        old = torch.tensor([s.logprobs + [0.0] * (width - len(s.logprobs)) for s in samples])
        loss = clipped_surrogate(
            logprobs,
            old.to(logprobs.device),
            advantages.to(logprobs.device),
            mask,
            cfg.clip_epsilon,
        )
        if cfg.kl_beta > 0:
            kl = reference_kl(policy, samples, logprobs, mask)
            loss = loss + cfg.kl_beta * kl
            kls.append(kl.item())
        return loss

    losses = optimise(policy, weighted, loss_of, cfg)
    metrics.update(steps=float(len(losses)), loss=statistics.fmean(losses))
    if kls:
        metrics["kl"] = statistics.fmean(kls)
    return TrainResult(metrics=metrics)
