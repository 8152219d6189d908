"""Best-of-N behaviour cloning: supervised fine-tuning on each group's best runs."""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from sia_core.api import (
    Group,
    PolicyHandle,
    RLBatch,
    Sample,
    TrainResult,
    completion_logprobs,
    optimise,
)
from sia_rl_bon.config import BoNConfig


def best_runs(group: Group, threshold: float, per_group: int) -> list[list[Sample]]:
    """The runs at the group's best reward, if it clears `threshold`: distinct outputs
    only, lowest run ids first, at most `per_group`."""
    rewards = group.run_rewards
    if not rewards:
        return []
    best = max(rewards.values())
    if best < threshold:
        return []
    kept: list[list[Sample]] = []
    seen: set[tuple[tuple[int, ...], ...]] = set()
    for run, samples in sorted(group.runs.items()):
        said = tuple(tuple(s.completion_ids) for s in samples)
        if rewards[run] == best and said not in seen:
            seen.add(said)
            kept.append(samples)
        if len(kept) == per_group:
            break
    return kept


def nll(logprobs: Any, mask: Any) -> Any:
    """Mean over calls of each call's mean negative log-likelihood per completion token."""
    per_call = (logprobs * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return -per_call.mean()


def train(batch: RLBatch, policy: PolicyHandle, cfg: BoNConfig) -> TrainResult:

    kept = [best_runs(g, cfg.threshold, cfg.per_group) for g in batch.groups]
    # Cloning targets the model's own distribution, not the rollout's tempered one.
    calls = [replace(s, temperature=1.0) for runs in kept for run in runs for s in run]
    metrics = {
        "samples": float(len(batch.samples)),
        "groups_kept": float(sum(1 for runs in kept if runs)),
        "runs_kept": float(sum(len(runs) for runs in kept)),
        "calls_kept": float(len(calls)),
        "mean_reward": statistics.fmean(batch.rewards) if batch.rewards else 0.0,
    }
    if not calls:
        metrics["steps"] = 0.0
        return TrainResult(metrics=metrics)

    def loss_of(chunk: list[Sample]) -> Any:
        return nll(*completion_logprobs(policy.model, chunk))

    losses = optimise(policy, calls, loss_of, cfg)
    metrics.update(steps=float(len(losses)), loss=statistics.fmean(losses), final_loss=losses[-1])
    return TrainResult(metrics=metrics)
