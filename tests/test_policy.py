"""The local policy's sampling: a prompt head shared by the batch is computed once, and
that changes nothing the model says (ids, log-probs) but the time it takes."""

from __future__ import annotations

import math

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

    def counted(prompts, params, seeds=None):
        sizes.append(len(prompts))
        return sample(prompts, params, seeds)

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


def _sampled(policy: object, content: str, override: dict | None = None) -> tuple:
    reply = policy.complete(
        {"messages": [{"role": "user", "content": content}], "max_tokens": 8}, override
    )
    return tuple(reply.extra["completion_ids"]), tuple(reply.extra["logprobs"])


def test_a_sampled_row_says_the_same_alone_or_in_any_batch() -> None:
    import torch

    policy = tiny_policy(seed=3)
    prompts = _prompts(policy)
    params = SamplingParams(temperature=1.0, max_tokens=8)
    seeds = [11, 12, 13, 14, 15]
    together = policy.sample(prompts, params, seeds)
    torch.manual_seed(99)  # the global generator plays no part
    alone = [policy.sample([p], params, [s])[0] for p, s in zip(prompts, seeds, strict=True)]
    reordered = policy.sample(prompts[::-1], params, seeds[::-1])[::-1]
    for a, b, c in zip(together, alone, reordered, strict=True):
        assert a.completion_ids == b.completion_ids == c.completion_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    # Other seeds draw otherwise (8 tokens from a 20-word vocabulary at temperature 1).
    other = policy.sample(prompts, params, [21, 22, 23, 24, 25])
    assert [o.completion_ids for o in other] != [t.completion_ids for t in together]


@pytest.mark.parametrize("temperature", [0.7, 1.3])
def test_sampled_log_probs_are_the_tempered_distribution_at_the_drawn_tokens(
    temperature: float,
) -> None:
    import torch

    policy = tiny_policy(seed=5)
    prompt = _prompts(policy)[2]
    params = SamplingParams(temperature=temperature, max_tokens=6)
    (out,) = policy.sample([prompt], params, [7])
    ids = torch.tensor([prompt + out.completion_ids])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0].float() / temperature
    logp = torch.log_softmax(logits, dim=-1)
    expected = [
        logp[len(prompt) - 1 + i, token].item() for i, token in enumerate(out.completion_ids)
    ]
    assert out.logprobs == pytest.approx(expected, abs=1e-4)


def test_top_p_keeps_only_the_nucleus() -> None:
    import torch

    from sia_core.policy.draws import SeededSampler

    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    drawn = set()
    for seed in range(200):
        sampler = SeededSampler([seed], 1.0, 0.75, 1)
        chosen = sampler(None, scores.clone())
        drawn.add(int(chosen.argmax()))
        # renormalised over the nucleus {0.5, 0.3}
        assert sampler.row_logprobs()[0][0] in (
            pytest.approx(math.log(0.5 / 0.8)), pytest.approx(math.log(0.3 / 0.8))
        )
    assert drawn == {0, 1}


def test_rollout_draws_follow_the_round_seed_not_thread_timing() -> None:
    from concurrent.futures import ThreadPoolExecutor

    contents = [HEAD + t for t in ["1", "2 3", "D is the"]] * 4  # each prompt four times

    def rollout(policy: object, workers: int, window: float) -> list[tuple]:
        policy.batch_window_s = window
        override = {"temperature": 1.0, "seed": 1234}
        with ThreadPoolExecutor(workers) as pool:
            # ids only: a batch's padding moves the log-probs in the last bits
            return [ids for ids, _ in pool.map(lambda c: _sampled(policy, c, override), contents)]

    serial = rollout(tiny_policy(seed=3), 1, 0.0)
    batched = rollout(tiny_policy(seed=3), 12, 0.3)
    # Identical prompts are interchangeable: compare each prompt's multiset of samples.
    for i in range(3):
        assert sorted(serial[i::3]) == sorted(batched[i::3])
        assert len(set(serial[i::3])) > 1  # repeats are fresh draws
    # Another round seed draws otherwise; the next round under the same seed continues.
    policy = tiny_policy(seed=3)
    first = rollout(policy, 4, 0.05)
    again = rollout(policy, 4, 0.05)
    assert sorted(first) == sorted(serial) and sorted(again) != sorted(first)


def test_a_request_seed_repeats_its_sample() -> None:
    policy = tiny_policy(seed=3)
    request = {"messages": [{"role": "user", "content": HEAD}], "max_tokens": 8, "seed": 5}
    replies = [policy.complete(request).extra["completion_ids"] for _ in range(3)]
    assert replies[0] == replies[1] == replies[2]
    huge = {**request, "seed": 2**80}  # any integer the gateway admits
    assert len({tuple(policy.complete(huge).extra["completion_ids"]) for _ in range(2)}) == 1
    # During rollouts the round's seed rules: a harness cannot pin its rollouts' draws.
    override = {"temperature": 1.0, "seed": 99}
    pinned = {tuple(policy.complete(request, override).extra["completion_ids"]) for _ in range(6)}
    assert len(pinned) > 1
    unseeded = {"messages": request["messages"], "max_tokens": 8}
    draws = {tuple(policy.complete(unseeded).extra["completion_ids"]) for _ in range(6)}
    assert len(draws) > 1
