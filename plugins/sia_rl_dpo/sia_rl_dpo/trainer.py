"""DPO over preference pairs made from each item's group of runs.

TRL's DPO loss lives inside DPOTrainer._compute_loss and expects its tokenised
chosen/rejected datasets; our batch holds runs of several calls each, so the loss is
written here (TRL's "sigmoid" loss with label smoothing) and checked by hand in tests.
A run's log-likelihood is the sum over all its calls of their completion tokens.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from sia_core.api import (
    Group,
    PolicyHandle,
    RLBatch,
    Sample,
    TrainResult,
    completion_logprobs,
    minibatches,
    optimise,
)
from sia_rl_dpo.config import DPOConfig


@dataclass(frozen=True)
class Pair:
    chosen: list[Sample]
    rejected: list[Sample]
    gap: float


def _completions(samples: list[Sample]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(s.completion_ids) for s in samples)


def preference_pairs(group: Group, pairing: str = "best-worst", margin: float = 0.0) -> list[Pair]:
    """Pairs of one group's runs, the higher reward chosen. Runs that said exactly the same
    thing are never paired: their difference in reward is not the policy's doing."""
    runs = group.runs
    rewards = group.run_rewards
    # best first; equal rewards keep the lower run id first, so pairing is deterministic
    order = sorted(runs, key=lambda r: (-rewards[r], r))
    if pairing == "best-worst":
        candidates = [(order[0], order[-1])] if len(order) > 1 else []
    else:
        candidates = [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    pairs = []
    for a, b in candidates:
        gap = rewards[a] - rewards[b]
        if gap > margin and _completions(runs[a]) != _completions(runs[b]):
            pairs.append(Pair(runs[a], runs[b], gap))
    return pairs


def dpo_loss(
    chosen: Any,
    rejected: Any,
    ref_chosen: Any,
    ref_rejected: Any,
    beta: float,
    label_smoothing: float = 0.0,
) -> tuple[Any, Any]:
    """Mean over pairs of -(1-ε)·logσ(βΔ) - ε·logσ(-βΔ), with Δ the chosen run's
    log-ratio to the reference minus the rejected run's; also returns βΔ per pair."""
    import torch.nn.functional as F

    margin = beta * ((chosen - ref_chosen) - (rejected - ref_rejected))
    loss = -(1 - label_smoothing) * F.logsigmoid(margin) - label_smoothing * F.logsigmoid(-margin)
    return loss.mean(), margin


def _run_logprobs(model: Any, runs: list[list[Sample]]) -> Any:
    """Sum of completion log-probs of every call of each run: one value per run."""
    import torch

    flat = [s for run in runs for s in run]
    logprobs, mask = completion_logprobs(model, flat)
    per_call = (logprobs * mask).sum(-1)
    owner = torch.tensor([i for i, run in enumerate(runs) for _ in run], device=per_call.device)
    return torch.zeros(len(runs), device=per_call.device).index_add(0, owner, per_call)


def train(batch: RLBatch, policy: PolicyHandle, cfg: DPOConfig) -> TrainResult:
    import torch

    per_group = [preference_pairs(g, cfg.pairing, cfg.margin) for g in batch.groups]
    pairs = [p for group_pairs in per_group for p in group_pairs]
    metrics = {
        "samples": float(len(batch.samples)),
        "pairs": float(len(pairs)),
        "groups_with_pairs": float(sum(1 for group_pairs in per_group if group_pairs)),
        "mean_reward": statistics.fmean(batch.rewards) if batch.rewards else 0.0,
    }
    if not pairs:
        metrics["steps"] = 0.0
        return TrainResult(metrics=metrics)
    # The reference never changes: its log-likelihoods are computed once.
    reference: dict[int, tuple[float, float]] = {}
    with torch.no_grad(), policy.reference() as ref:
        for chunk in minibatches(list(enumerate(pairs)), cfg.minibatch_size):
            values = _run_logprobs(
                ref, [p.chosen for _, p in chunk] + [p.rejected for _, p in chunk]
            ).tolist()
            for j, (index, _) in enumerate(chunk):
                reference[index] = (values[j], values[len(chunk) + j])
    margins_per_step: list[list[float]] = []

    def loss_of(chunk: list[int]) -> Any:
        both = _run_logprobs(
            policy.model, [pairs[i].chosen for i in chunk] + [pairs[i].rejected for i in chunk]
        )
        ref_values = torch.tensor([reference[i] for i in chunk], device=both.device)
        loss, margin = dpo_loss(
            both[: len(chunk)],
            both[len(chunk) :],
            ref_values[:, 0],
            ref_values[:, 1],
            cfg.beta,
            cfg.label_smoothing,
        )
        margins_per_step.append(margin.detach().tolist())
        return loss

    losses = optimise(policy, range(len(pairs)), loss_of, cfg)
    steps_per_epoch = math.ceil(len(pairs) / cfg.minibatch_size)
    margins = [m for step in margins_per_step[-steps_per_epoch:] for m in step]
    metrics.update(
        steps=float(len(losses)),
        loss=statistics.fmean(losses),
        # in the last epoch, before each step: how often the policy already preferred the
        # chosen run more than the reference does (TRL's "rewards/accuracies")
        preference_accuracy=sum(1 for m in margins if m > 0) / len(margins),
        mean_margin=statistics.fmean(margins),
    )
    return TrainResult(metrics=metrics)
