"""What an RL algorithm plugin receives and returns.

A trainer is a function `train(batch: RLBatch, policy: PolicyHandle, config) ->
TrainResult`, where `config` is the algorithm's own config (an `RLConfig` subclass,
parsed and checked once, before any rollout) or None for an algorithm without options.
The batch holds, for each training item, the calls of K sampled runs of the harness with
each run's reward. The policy handle holds the peft model (trained in place: the core
saves its adapter afterwards), its tokenizer, and `reference()`, under which the model
computes the reference (adapter-free) log-probs for a KL term.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

from sia_core.options import option, parse
from sia_core.weights.shared_head import (
    cache_kwarg,
    head_cache,
    shared_head,
    sliding_window,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One model call of one sampled run, with the reward of the run it belongs to."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    """Log-probs of the completion tokens under the sampling distribution."""
    reward: float
    run: int
    temperature: float = 1.0


@dataclass(frozen=True)
class Group:
    """All samples of one training item across its K runs."""

    item_id: str
    samples: list[Sample]

    @property
    def run_rewards(self) -> dict[int, float]:
        return {s.run: s.reward for s in self.samples}

    @property
    def runs(self) -> dict[int, list[Sample]]:
        """Each run's calls, in the order they were made."""
        by_run: dict[int, list[Sample]] = {}
        for sample in self.samples:
            by_run.setdefault(sample.run, []).append(sample)
        return by_run


@dataclass(frozen=True)
class RLBatch:
    groups: list[Group]

    @property
    def samples(self) -> list[Sample]:
        return [s for g in self.groups for s in g.samples]

    @property
    def rewards(self) -> list[float]:
        return [r for g in self.groups for r in g.run_rewards.values()]


@dataclass
class PolicyHandle:
    model: Any
    """A peft model; its LoRA parameters are the trainable ones."""
    tokenizer: Any
    learning_rate: float
    seed: int = 0
    previous_adapter: Path | None = None
    """The adapter this training starts from, with any extra files its trainer saved."""

    @contextlib.contextmanager
    def reference(self) -> Iterator[Any]:
        """The model without its adapter: the reference policy for KL terms."""
        with self.model.disable_adapter():
            yield self.model


@dataclass
class TrainResult:
    metrics: dict[str, float] = field(default_factory=dict)
    extra_files: dict[str, bytes] = field(default_factory=dict)
    """Files to save next to the adapter (e.g. a value head)."""


def completion_logprobs(
    model: Any, samples: list[Sample], hidden: bool = False, share_head: bool = True
) -> Any:
    """Log-probs of each sample's completion tokens under `model`, at temperature.

    Only the completion positions go through the output layer: with a 262k-token
    vocabulary, projecting every prompt position too is what makes naive trainers slow.
    With `share_head`, a prompt head that every sample starts with (the few-shot block of
    a harness's prompt) runs once for the batch, not once per sample; the log-probs and
    their gradients are the same either way, up to float rounding.
    Returns (logprobs [B, T], mask [B, T]) and, with `hidden`, the hidden states at
    those positions [B, T, H] (for a value head).
    """
    import torch

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = next(lm.parameters()).device
    rows = [s.prompt_ids + s.completion_ids for s in samples]
    longest = max(len(r) for r in rows)
    shared = 0
    if share_head:
        shared = shared_head([s.prompt_ids for s in samples], longest, sliding_window(lm))
    width = longest - shared
    steps = max(len(s.completion_ids) for s in samples)
    pad = 0
    # Each row is what follows the shared head, right-padded: the head's cache comes
    # first, so positions run on from it and no real token sees the padding.
    ids = torch.full((len(rows), width), pad, dtype=torch.long, device=device)
    attention = torch.zeros((len(rows), shared + width), dtype=torch.long, device=device)
    positions = torch.zeros((len(rows), steps), dtype=torch.long, device=device)
    targets = torch.zeros((len(rows), steps), dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), steps), dtype=torch.float32, device=device)
    for i, (row, sample) in enumerate(zip(rows, samples, strict=True)):
        ids[i, : len(row) - shared] = torch.tensor(row[shared:], device=device)
        attention[i, : len(row)] = 1
        n, start = len(sample.completion_ids), len(sample.prompt_ids) - shared
        # The token at position p is predicted by the hidden state at p - 1.
        positions[i, :n] = torch.arange(start - 1, start - 1 + n, device=device)
        targets[i, :n] = torch.tensor(sample.completion_ids, device=device)
        mask[i, :n] = 1.0
    extra: dict[str, Any] = {}
    if shared:
        extra = {cache_kwarg(lm.model): head_cache(lm.model, rows[0][:shared], len(rows))}
    states = lm.model(input_ids=ids, attention_mask=attention, **extra).last_hidden_state
    picked = torch.gather(states, 1, positions.unsqueeze(-1).expand(-1, -1, states.size(-1)))
    logits = lm.lm_head(picked).float()
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    temperature = torch.tensor([max(s.temperature, 1e-6) for s in samples], device=device)
    logits = logits / temperature.view(-1, 1, 1)
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    logprobs = logprobs * mask
    return (logprobs, mask, picked) if hidden else (logprobs, mask)


def minibatches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class RLConfig:
    """The options every algorithm's config shares, the ones `optimise` reads (as TRL's
    configs share TrainingArguments). A subclass adds its own and re-declares a shared
    one only to change its default or its help."""

    epochs: int = option(2, "passes over the training items per round", min=1, max=20)
    minibatch_size: int = option(16, "training items per optimiser step", min=1, max=4096)
    max_grad_norm: float = option(1.0, "gradient clipping norm", min=0.0, max=100.0)
    learning_rate: float | None = option(
        None, "LoRA learning rate (null: the run's --lora-lr)", min=0.0, max=1.0
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, name: str | None = None) -> Self:
        """The config from a decision's "algorithm" options, checked (OptionError)."""
        return parse(cls, data, name or cls.__name__)


def optimise(
    policy: PolicyHandle,
    items: Sequence[T],
    loss_of: Callable[[list[T]], Any],
    settings: RLConfig,
) -> list[float]:
    """The training loop most algorithms share: `settings.epochs` passes over `items` in
    a shuffle seeded by `policy.seed`, one AdamW step on the policy's trainable (LoRA)
    parameters per minibatch of `settings.minibatch_size`, gradients clipped to
    `settings.max_grad_norm`. `loss_of(minibatch)` returns the loss tensor. Returns each
    step's loss."""
    import torch

    params = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate or policy.learning_rate)
    rng = random.Random(policy.seed)
    order = list(items)
    losses: list[float] = []
    policy.model.train()
    for _ in range(settings.epochs):
        rng.shuffle(order)
        for chunk in minibatches(order, settings.minibatch_size):
            loss = loss_of(chunk)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            losses.append(loss.item())
    policy.model.eval()
    return losses


def reference_kl(policy: PolicyHandle, samples: list[Sample], logprobs: Any, mask: Any) -> Any:
    """The k3 KL of the policy (its `logprobs` on these samples' completions) to the
    adapter-free reference, whose log-probs are computed here without gradients."""
    import torch

    with torch.no_grad(), policy.reference() as ref:
        ref_logprobs, _ = completion_logprobs(ref, samples)
    return k3_kl(logprobs, ref_logprobs, mask)


def k3_kl(logprobs: Any, ref_logprobs: Any, mask: Any) -> Any:
    """KL(policy || reference) by the k3 estimator exp(ref - logp) - (ref - logp) - 1:
    unbiased and never negative; a per-sequence mean over completion tokens, then a mean."""
    import torch

    delta = ref_logprobs - logprobs
    kl = torch.exp(delta) - delta - 1
    return ((kl * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
