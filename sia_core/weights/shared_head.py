"""A token head that every row of a batch starts with (a few-shot block, a system
prompt), run through the model once and its key/value cache repeated for the batch.

Sampling (policy/local.py) and the trainers' log-probs (rl.completion_logprobs) both use
it: with short completions after a long common prompt, that head is most of the tokens a
forward pass would otherwise run once per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MIN_SHARED_HEAD = 16
"""Below this many tokens a cache of its own costs more than it saves."""


def shared_head(
    prompts: Sequence[Sequence[int]],
    longest: int,
    window: int | None,
    minimum: int = MIN_SHARED_HEAD,
) -> int:
    """Length of the head every prompt shares, or 0 (run the rows whole). Each prompt
    keeps at least one token of its own: its last position's state predicts what follows
    it. `longest` is the longest sequence the batch will hold (completion included): it
    must fit a sliding attention `window`, whose cache would otherwise drop the head's
    first tokens."""
    if len(prompts) < 2:
        return 0
    limit = min(len(p) for p in prompts) - 1
    first = prompts[0]
    shared = 0
    while shared < limit and all(p[shared] == first[shared] for p in prompts):
        shared += 1
    if shared < minimum or (window and longest >= window):
        return 0
    return shared


def head_cache(decoder: Any, head: Sequence[int], copies: int) -> Any:
    """The key/value cache of `head` run once through `decoder` (a transformers model,
    with or without its LM head), repeated `copies` times along the batch. Built with
    gradients when they are on: what flows back through each copy adds up in the head."""
    import torch

    device = next(decoder.parameters()).device
    ids = torch.tensor([list(head)], dtype=torch.long, device=device)
    out = decoder(input_ids=ids, use_cache=True)
    cache = getattr(out, "cache", None)
    if cache is None:  # transformers 4
        cache = out.past_key_values
    cache.batch_repeat_interleave(copies)
    return cache


def cache_kwarg(model: Any) -> str:
    """The name `model`'s forward and generate take a cache by: transformers 5 renamed
    `past_key_values` to `cache` (the old name warns, and goes in 5.40)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def sliding_window(model: Any) -> int | None:
    """The model's sliding attention window, if its config has one."""
    return getattr(getattr(model, "config", None), "sliding_window", None)
