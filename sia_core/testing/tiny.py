"""A tiny causal LM and word-level tokenizer built in memory, for tests that need a model."""

from __future__ import annotations

from typing import Any

WORDS = [
    "<pad>",
    "<eos>",
    "<unk>",
    "\n",
    "yes",
    "no",
    "A",
    "B",
    "C",
    "D",
    "E",
    "F",
    "question",
    "answer",
    "is",
    "the",
    "1",
    "2",
    "3",
    "4",
]


def tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def tiny_model(seed: int = 0) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        eos_token_id=1,
        initializer_range=0.5,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def tiny_policy(seed: int = 0, rank: int = 8, learning_rate: float = 1e-2) -> Any:
    from sia_core.policy.local import LocalPolicy, LoraSettings

    lora = LoraSettings(
        rank=rank,
        alpha=2 * rank,
        learning_rate=learning_rate,
        target_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
    )
    return LocalPolicy.wrap(tiny_model(seed), tiny_tokenizer(), "tiny", lora)


PROMPTS = ["question A is the", "question B is the", "question C is the", "question D is the"]


def toy_batch(policy: Any, k: int = 8, target: str = "yes", prompts: list[str] = PROMPTS) -> Any:
    """K samples per prompt; reward 1 when the first completion token is `target`."""
    from sia_core.policy.local import SamplingParams
    from sia_core.weights.rl import Group, RLBatch, Sample

    target_id = policy.tokenizer.convert_tokens_to_ids(target)
    groups = []
    for i, text in enumerate(prompts):
        prompt = policy.prompt_ids([{"role": "user", "content": text}])
        completions = policy.sample([prompt] * k, SamplingParams(temperature=1.0, max_tokens=2))
        groups.append(
            Group(
                str(i),
                [
                    Sample(
                        c.prompt_ids,
                        c.completion_ids,
                        c.logprobs,
                        1.0 if c.completion_ids[:1] == [target_id] else 0.0,
                        run=j,
                    )
                    for j, c in enumerate(completions)
                ],
            )
        )
    return RLBatch(groups)


def toy_success(policy: Any, samples: int = 64, target: str = "yes") -> float:
    batch = toy_batch(policy, k=samples, target=target)
    return sum(batch.rewards) / len(batch.rewards)


def learn(
    train: Any, config: Any, steps: int, seed: int = 0, target: str = "yes"
) -> tuple[float, float]:
    """Mean toy reward before and after `steps` rounds of sampling and training with the
    algorithm's typed `config`."""
    import torch

    from sia_core.weights.rl import PolicyHandle

    torch.manual_seed(seed)
    policy = tiny_policy(seed)
    before = toy_success(policy, target=target)
    handle = PolicyHandle(policy.model, policy.tokenizer, policy.lora.learning_rate, seed)
    for _ in range(steps):
        train(toy_batch(policy, target=target), handle, config)
    return before, toy_success(policy, target=target)
