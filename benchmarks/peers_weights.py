"""The weights half of benchmarks/peers.py: sia_rl_grpo against TRL's GRPOTrainer on
sentiment, round for round.

What is held equal: the checkpoint (the embedded Gemma 3 270M as sia converts it), the
prompt (the reference harness's question with 5 training rows as demos, as a chat
message), the LoRA settings and learning rate (sia's defaults), the exact-match reward,
the sampling temperature (1.0) and token cap, and the work per round (ITEMS prompts x K
completions, one round = one rollout then one update). Each trainer keeps its own
optimisation defaults (sia: GRPO minibatches of its config; TRL: one step per round).
Held-out accuracy after each round is measured by one greedy evaluation function for
both, outside the timed part.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers_harness import SPECS, splits

SPEC = SPECS["sentiment"]


def _messages(demos: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    prefix = "".join(SPEC.demo(d["review"], d["answer"]) for d in demos)
    return [{"role": "user", "content": prefix + SPEC.query(text)}]


def reward(text: str, answer: str) -> float:
    return 1.0 if SPEC.parse(text) == answer else 0.0


def held_out(model: Any, tokenizer: Any, prompts: list[list[int]], answers: list[str]) -> float:
    """Greedy accuracy, batches of 25 left-padded prompts through `generate`."""
    import torch

    was_training = model.training
    model.eval()
    hits = 0
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        for start in range(0, len(prompts), 25):
            batch = prompts[start : start + 25]
            width = max(len(p) for p in batch)
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                 max_new_tokens=SPEC.max_tokens, pad_token_id=pad)  # fmt: skip
            for row, answer in zip(out[:, width:], answers[start : start + 25], strict=True):
                text = tokenizer.decode(row, skip_special_tokens=True).split("\n")[0]
                hits += SPEC.parse(text) == answer
    model.train(was_training)
    return hits / len(prompts)


TRAINERS = ("sia", "trl")


def compare(seed: int, rounds: int, items: int, k: int, scratch: Path,
            log: Callable[[str], None], trainers: tuple[str, ...] = TRAINERS
            ) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    """The trainers named (both by default) from the same checkpoint: held-out after
    rounds 0..rounds, and the seconds of each round. One alone is for checking a change
    to sia's arm on more seeds than an hour of TRL a seed allows; its ratios then need
    TRL's seconds from another run."""
    import torch

    from sia_core.policy.local import LocalPolicy, LoraSettings

    data = splits("sentiment", scratch / "views")
    rng = random.Random(f"weights-{seed}")
    demos = rng.sample(data.train, 5)
    pool = [r for r in data.train if r not in demos]
    rng.shuffle(pool)
    rows = [pool[(r * items + i) % len(pool)] for r in range(rounds) for i in range(items)]
    lora = LoraSettings()
    out: dict[str, dict[str, list[float]]] = {}

    torch.manual_seed(seed)
    policy = LocalPolicy.load("gemma3-270m", lora=lora)
    tests = [policy.prompt_ids(_messages(demos, r["review"])) for r in data.test]
    same = Setup(seed, rounds, items, k, demos, rows, lora, tests,
                 [r["answer"] for r in data.test], log)  # fmt: skip
    if "sia" in trainers:
        out["sia"] = _sia_rounds(policy, same)
    del policy
    if "trl" in trainers:
        out["trl"] = _trl_rounds(same, scratch)
    return out


@dataclass(frozen=True)
class Setup:
    """What both trainers get alike for one seed."""

    seed: int
    rounds: int
    items: int
    k: int
    demos: list[dict[str, str]]
    rows: list[dict[str, str]]
    lora: Any
    tests: list[list[int]]
    answers: list[str]
    log: Callable[[str], None]


def _sia_rounds(policy: Any, same: Setup) -> dict[str, list[float]]:
    from sia_rl_grpo.config import GRPOConfig as SiaGRPOConfig
    from sia_rl_grpo.trainer import train

    from sia_core.policy.local import SamplingParams
    from sia_core.weights.rl import Group, PolicyHandle, RLBatch, Sample

    seed, items, k, demos, log = same.seed, same.items, same.k, same.demos, same.log
    tests, answers = same.tests, same.answers
    params = SamplingParams(temperature=1.0, max_tokens=SPEC.max_tokens, stop=("\n",))
    handle = PolicyHandle(policy.model, policy.tokenizer, same.lora.learning_rate, seed=seed)
    scores = [held_out(policy.model, policy.tokenizer, tests, answers)]
    log(f"weights seed {seed} round 0 (the checkpoint, both trainers): {scores[0]:.2f}")
    seconds: list[float] = []
    for number in range(same.rounds):
        start = time.perf_counter()
        chunk = same.rows[number * items : (number + 1) * items]
        prompts = [policy.prompt_ids(_messages(demos, r["review"])) for r in chunk]
        outs = policy.sample([p for p in prompts for _ in range(k)], params)
        groups = [
            Group(row["id"], [
                Sample(o.prompt_ids, o.completion_ids, o.logprobs,
                       reward(o.text, row["answer"]), run)
                for run, o in enumerate(outs[i * k : (i + 1) * k])
            ])
            for i, row in enumerate(chunk)
        ]  # fmt: skip
        train(RLBatch(groups), handle, SiaGRPOConfig())
        seconds.append(time.perf_counter() - start)
        scores.append(held_out(policy.model, policy.tokenizer, tests, answers))
        log(f"weights seed {seed} sia round {number + 1}: {scores[-1]:.2f}, {seconds[-1]:.0f} s")
    return {"held_out": scores, "seconds": seconds}


def _trl_rounds(same: Setup, scratch: Path) -> dict[str, list[float]]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from sia_core.policy.registry import model_dir

    seed, demos, lora, tests, answers = same.seed, same.demos, same.lora, same.tests, same.answers
    truth = {r["review"]: r["answer"] for r in same.rows}

    def trl_reward(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
        # The review is the first line of the prompt's last "Review: " block.
        return [
            reward(text, truth[prompt.rsplit("Review: ", 1)[1].split("\n")[0]])
            for prompt, text in zip(prompts, completions, strict=True)
        ]

    tokenizer = AutoTokenizer.from_pretrained(model_dir("gemma3-270m"))
    tokenizer.padding_side = "left"
    trl_scores: list[float] = []
    trl_seconds: list[float] = []

    class Rounds(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.start = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            trl_seconds.append(time.perf_counter() - self.start)
            trl_scores.append(held_out(kw["model"], tokenizer, tests, answers))
            same.log(f"weights seed {seed} TRL round {len(trl_seconds)}: "
                     f"{trl_scores[-1]:.2f}, {trl_seconds[-1]:.0f} s")  # fmt: skip

    # The text sia's policy sends a base model (no chat template): the message itself,
    # tokenized with its BOS as TRL's plain-prompt path does. TRL's sampler draws each
    # round's prompts from these rows.
    assert not getattr(tokenizer, "chat_template", None), "a chat model: compare templated"
    dataset = Dataset.from_list([{"prompt": _messages(demos, r["review"])[0]["content"]}
                                 for r in same.rows])  # fmt: skip
    config = GRPOConfig(
        output_dir=str(scratch / "trl"), use_cpu=True, bf16=False, seed=seed,
        num_generations=same.k, per_device_train_batch_size=same.items * same.k,
        max_completion_length=SPEC.max_tokens, max_steps=same.rounds, temperature=1.0,
        learning_rate=lora.learning_rate, report_to=[], logging_steps=1, save_strategy="no",
    )  # fmt: skip
    torch.manual_seed(seed)
    trainer = GRPOTrainer(
        model=str(model_dir("gemma3-270m")), reward_funcs=trl_reward, args=config,
        train_dataset=dataset, processing_class=tokenizer, callbacks=[Rounds()],
        peft_config=LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                               target_modules=list(lora.target_modules), task_type="CAUSAL_LM"),
    )  # fmt: skip
    trl_scores.append(held_out(trainer.model, tokenizer, tests, answers))
    trl_scores.insert(0, trl_scores.pop())
    trainer.train()
    return {"held_out": trl_scores, "seconds": trl_seconds}
