"""The trainers' log-probs (`completion_logprobs`): a prompt head that every sample
shares runs through the model once, and that changes neither the log-probs, nor the
value head's states, nor any gradient, only the tokens the forward pass runs."""

from __future__ import annotations

from typing import Any

import pytest

from sia_core.policy.local import LocalPolicy, LoraSettings
from sia_core.testing.tiny import WORDS, tiny_model, tiny_tokenizer
from sia_core.weights.rl import Sample, completion_logprobs
from sia_core.weights.shared_head import shared_head

HEAD = "question A is the answer question B is the answer question C is the answer " * 2


def _gemma3() -> Any:
    # Gemma 3's own code path, as the embedded task model runs it: alternating sliding
    # and full attention layers, a logit soft-cap.
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=128,
        layer_types=["sliding_attention", "full_attention"], final_logit_softcapping=30.0,
        max_position_embeddings=256, pad_token_id=0, eos_token_id=1, bos_token_id=None,
    )  # fmt: skip
    return Gemma3ForCausalLM(config)


def _policy(arch: str) -> Any:
    import torch

    model = tiny_model(3) if arch == "llama" else _gemma3()
    lora = LoraSettings(rank=4, alpha=8, target_modules=("q_proj", "k_proj", "v_proj", "o_proj"))
    policy = LocalPolicy.wrap(model, tiny_tokenizer(), arch, lora)
    torch.manual_seed(1)
    for name, param in policy.model.named_parameters():
        if "lora_" in name:  # B starts at zero: without this no gradient reaches A
            param.data.normal_(0.0, 0.3)
    return policy


def _samples(policy: Any) -> list[Sample]:
    tails = ["1", "2 3", "D is the", "4 4 4 4 4", "E", "F yes"]
    completions = [[4], [5, 3], [4, 4, 5, 1], [6], [7, 8, 9], [5, 1]]
    return [
        Sample(policy.prompt_ids([{"role": "user", "content": HEAD + tail}]), completion,
               [0.0] * len(completion), 1.0, run, temperature=0.7 if run % 2 else 1.0)
        for run, (tail, completion) in enumerate(zip(tails, completions, strict=True))
    ]  # fmt: skip


def _run(policy: Any, samples: list[Sample], share_head: bool) -> dict[str, Any]:
    import torch

    decoder = policy.model.get_base_model().model
    tokens: list[int] = []
    hook = decoder.register_forward_pre_hook(
        lambda _, args, kwargs: tokens.append(kwargs["input_ids"].numel()), with_kwargs=True
    )
    policy.model.zero_grad()
    try:
        logprobs, mask, hidden = completion_logprobs(
            policy.model, samples, hidden=True, share_head=share_head
        )
    finally:
        hook.remove()
    weights = torch.linspace(-1.0, 1.0, logprobs.numel()).view_as(logprobs)
    ((logprobs * weights).sum() + 0.01 * (hidden * mask.unsqueeze(-1)).sum()).backward()
    grads = {
        name: param.grad.clone()
        for name, param in policy.model.named_parameters()
        if param.requires_grad
    }
    return {"logprobs": logprobs, "mask": mask, "hidden": hidden, "grads": grads,
            "tokens": tokens}  # fmt: skip


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_a_shared_head_runs_once_and_changes_no_logprob_or_gradient(arch: str) -> None:
    import torch

    policy = _policy(arch)
    samples = _samples(policy)
    longest = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    head = shared_head([s.prompt_ids for s in samples], longest, None)
    assert head >= 16
    shared = _run(policy, samples, share_head=True)
    plain = _run(policy, samples, share_head=False)

    rows = len(samples)
    assert plain["tokens"] == [rows * longest]
    assert shared["tokens"] == [head, rows * (longest - head)]
    assert torch.equal(shared["mask"], plain["mask"])
    real = plain["mask"].bool()
    assert torch.allclose(shared["logprobs"], plain["logprobs"], atol=1e-5)
    assert plain["logprobs"][real].abs().min() > 1e-3  # real log-probs, not padding
    assert torch.allclose(shared["hidden"][real], plain["hidden"][real], atol=1e-5)
    assert set(shared["grads"]) == set(plain["grads"]) and plain["grads"]
    for name, grad in plain["grads"].items():
        assert grad.abs().max() > 0, name
        assert (shared["grads"][name] - grad).norm() <= 1e-4 * grad.norm(), name


def test_rows_run_whole_past_a_sliding_window_or_without_a_long_enough_head() -> None:
    policy = _policy("gemma3")
    samples = _samples(policy)
    longest = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    policy.model.config.sliding_window = longest
    assert _run(policy, samples, share_head=True)["tokens"] == [len(samples) * longest]
    short = [Sample(s.prompt_ids[-6:], s.completion_ids, s.logprobs, s.reward, s.run)
             for s in samples]  # fmt: skip
    policy.model.config.sliding_window = 128
    width = max(len(s.prompt_ids) + len(s.completion_ids) for s in short)
    assert _run(policy, short, share_head=True)["tokens"] == [len(short) * width]
