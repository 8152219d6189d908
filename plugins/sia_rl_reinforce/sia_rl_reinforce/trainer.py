"""REINFORCE with a leave-one-out baseline and a KL penalty to the reference."""

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
from sia_rl_reinforce.config import ReinforceConfig


def leave_one_out(rewards: list[float]) -> list[float]:
    """r_i minus the mean reward of the group's other runs; zeros for a lone run."""
    k = len(rewards)
    if k < 2:
        return [0.0] * k
    total = sum(rewards)
    return [r - (total - r) / (k - 1) for r in rewards]


def policy_gradient_loss(logprobs: Any, advantages: Any, mask: Any) -> Any:
    """-A · (mean log-prob of the call's completion tokens), averaged over calls."""
    per_call = (logprobs * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return -(advantages * per_call).mean()


def train(batch: RLBatch, policy: PolicyHandle, cfg: ReinforceConfig) -> TrainResult:
    import torch

    weighted = []
    for group in batch.groups:
        runs = sorted(group.run_rewards)
        advantage = dict(
            zip(runs, leave_one_out([group.run_rewards[r] for r in runs]), strict=True)
        )
        # With a KL penalty every call counts: a group without contrast still must not drift.
        weighted += [
            (s, advantage[s.run])
            for s in group.samples
            if advantage[s.run] != 0.0 or cfg.kl_beta > 0
        ]
    metrics = {
        "samples": float(len(batch.samples)),
        "informative_samples": float(sum(1 for _, a in weighted if a != 0.0)),
        "mean_reward": statistics.fmean(batch.rewards) if batch.rewards else 0.0,
    }
    if not metrics["informative_samples"]:
        metrics["steps"] = 0.0
        return TrainResult(metrics=metrics)
    kls: list[float] = []

    def loss_of(chunk: list[tuple[Any, float]]) -> Any:
        samples = [s for s, _ in chunk]
        logprobs, mask = completion_logprobs(policy.model, samples)
        advantages = torch.tensor([a for _, a in chunk], device=logprobs.device)
        loss = policy_gradient_loss(logprobs, advantages, mask)
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
