"""Random draws that belong to a request, not to the batch it happens to share.

The policy gathers concurrent requests into one `generate` call, and which requests share
a call depends on the timing of the agent's threads. Drawn from one global generator, a
sampled call's tokens would then depend on that timing too, and two runs with the same
seed would train on different rollouts. Here each sampled request gets its own
generator, seeded from the run's seed (or the rollout round's), its prompt and how many
times that prompt was sampled before under that seed, so its tokens are the same whatever
else is in flight (up to the last bits of the logits, which padding can move).
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from typing import Any


class RequestSeeds:
    """Seeds for sampled requests: identical prompts under one base seed get distinct
    seeds in the order they arrive (identical requests are interchangeable, so that order
    does not matter), and a fixed request seed is honoured as it is (OpenAI's `seed`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: defaultdict[bytes, int] = defaultdict(int)

    def seed_for(self, base: int, prompt: list[int], params: Any, fixed: int | None) -> int:
        key = _digest(repr((base if fixed is None else fixed, params)), prompt)
        if fixed is not None:
            return _to_int(key)
        with self._lock:
            occurrence = self._seen[key]
            self._seen[key] = occurrence + 1
        return _to_int(hashlib.blake2b(key + occurrence.to_bytes(8, "little")).digest())


def _digest(head: str, prompt: list[int]) -> bytes:
    h = hashlib.blake2b(head.encode(), digest_size=16)
    h.update(b"".join(t.to_bytes(4, "little", signed=True) for t in prompt))
    return h.digest()


def _to_int(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "little") >> 1  # torch seeds are signed 64-bit


class SeededSampler:
    """A logits processor for `generate(do_sample=False)` that samples each row itself,
    with the row's own uniforms (inverse CDF over the tempered, nucleus-filtered
    distribution), and leaves only the drawn token for the greedy step to pick. It keeps
    the log-probability of every drawn token under that distribution: the sampling
    log-probs a trainer needs."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float, steps: int) -> None:
        import torch

        self._torch = torch
        self.temperature = temperature
        self.top_p = top_p
        draws = []
        for seed in seeds:
            generator = torch.Generator().manual_seed(seed)
            draws.append(torch.rand(steps, generator=generator, dtype=torch.float64))
        self.uniforms = torch.stack(draws)
        self.step = 0
        self.logprobs: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self._torch
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            logits = _nucleus(torch, logits, self.top_p)
        logp = torch.log_softmax(logits, dim=-1)
        cdf = logp.double().exp().cumsum(dim=-1)
        u = self.uniforms[:, self.step].to(cdf.device) * cdf[:, -1]
        # side="right": the first token whose cumulative mass passes u, never one of mass 0.
        tokens = torch.searchsorted(cdf, u.unsqueeze(1), right=True).clamp(max=cdf.shape[1] - 1)
        self.logprobs.append(logp.gather(1, tokens).squeeze(1))
        self.step += 1
        chosen = torch.full_like(scores, float("-inf"))
        chosen.scatter_(1, tokens, 0.0)
        return chosen

    def row_logprobs(self) -> list[list[float]]:
        if not self.logprobs:
            return [[] for _ in range(self.uniforms.shape[0])]
        return self._torch.stack(self.logprobs, dim=1).tolist()


def _nucleus(torch: Any, logits: Any, top_p: float) -> Any:
    """The smallest set of tokens holding `top_p` of the mass (at least one); the rest
    get -inf."""
    ordered, order = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(ordered, dim=-1)
    drop = probs.cumsum(dim=-1) - probs >= top_p  # the mass before this token
    drop[:, 0] = False
    ordered = ordered.masked_fill(drop, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(1, order, ordered)
