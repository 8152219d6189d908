"""The local policy's sampling: a prompt head shared by the batch is computed once, and
that changes nothing the model says (ids, log-probs) but the time it takes."""

from __future__ import annotations

import pytest

from sia_core.policy.local import SamplingParams
from sia_core.testing.tiny import tiny_policy

HEAD = "question A is the answer question B is the answer question C is the answer " * 2


def _prompts(policy: object) -> list[list[int]]:
    tails = ["1", "2 3", "D is the", "4 4 4 4 4", "E"]
    return [policy.prompt_ids([{"role": "user", "content": HEAD + t}]) for t in tails]


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_shared_head_is_cached_without_changing_the_completions(temperature: float) -> None:
    import torch

    policy = tiny_policy(seed=3)
    prompts = _prompts(policy)
    params = SamplingParams(temperature=temperature, max_tokens=6)
    assert policy._shared_prefix(prompts, params.max_tokens) >= 16
    torch.manual_seed(0)
    cached = policy.sample(prompts, params)
    policy.MIN_SHARED_PREFIX = 10_000  # the plain path: every row prefilled in full
    assert policy._shared_prefix(prompts, params.max_tokens) == 0
    torch.manual_seed(0)
    plain = policy.sample(prompts, params)
    for a, b in zip(cached, plain, strict=True):
        assert a.prompt_ids == b.prompt_ids
        assert a.completion_ids == b.completion_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_no_shared_cache_past_a_sliding_window_or_for_one_prompt() -> None:
    policy = tiny_policy()
    prompts = _prompts(policy)
    assert policy._shared_prefix(prompts[:1], 4) == 0
    policy.model.config.sliding_window = max(len(p) for p in prompts)
    assert policy._shared_prefix(prompts, 4) == 0
    policy.model.config.sliding_window = 4096
    assert policy._shared_prefix(prompts, 4) > 0


def test_exact_policy_samples_each_greedy_call_alone() -> None:
    from concurrent.futures import ThreadPoolExecutor

    policy = tiny_policy(seed=3)
    sizes: list[int] = []
    sample = policy.sample

    def counted(prompts, params):
        sizes.append(len(prompts))
        return sample(prompts, params)

    policy.sample = counted
    policy.batch_window_s = 0.5  # wide enough that concurrent calls would share a batch
    messages = [[{"role": "user", "content": HEAD + t}] for t in ["1", "2 3", "D is", "4 4 4"]]

    def ask(m: list[dict]) -> tuple[str, object]:
        reply = policy.complete({"messages": m, "max_tokens": 6, "temperature": 0})
        return reply.response["choices"][0]["message"]["content"], reply.completion_tokens

    policy.exact = True
    alone = [ask(m) for m in messages]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(ask, messages))
    assert together == alone and sizes == [1] * 8
    # Sampled calls (rollouts) still share batches; so do greedy ones without `exact`.
    sizes.clear()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda m: policy.complete({"messages": m, "max_tokens": 2}), messages))
    assert max(sizes) > 1
    policy.exact = False
    sizes.clear()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(ask, messages))
    assert max(sizes) > 1
