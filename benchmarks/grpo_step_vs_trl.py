"""One GRPO step (sample 16 completions of 8 tokens, then update) with sia's trainer and
with TRL 1.16's GRPOTrainer, same model, prompts, LoRA and reward. Prints seconds per
step and their ratio, measured in one run.

    python benchmarks/grpo_step_vs_trl.py [--steps 3]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "Review: {r}\nIs this review positive or negative?\nAnswer:"


def label_reward(text: str, answer: str) -> float:
    # Dense on purpose: every group has contrast, so both trainers do a full update
    # (a group of equal rewards would let either skip its backward pass).
    words = text.strip().lower().split()
    hit = 1.0 if words and words[0].startswith(answer[:3]) else 0.0
    return hit + len(set(text)) / 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    import torch
    from sia_rl_grpo.config import GRPOConfig as SiaGRPOConfig
    from sia_rl_grpo.trainer import train
    from sia_tasks_offline.build import task_dir

    from sia_core.policy.local import LocalPolicy, LoraSettings, SamplingParams
    from sia_core.policy.registry import model_dir
    from sia_core.weights.rl import Group, PolicyHandle, RLBatch, Sample

    with (task_dir("sentiment") / "data" / "public" / "train.csv").open() as fh:
        rows = list(csv.DictReader(fh))[: 2 * args.steps]
    lora = LoraSettings()

    # sia: LocalPolicy sampling + sia_rl_grpo, logits only at completion positions.
    torch.manual_seed(0)
    policy = LocalPolicy.load("gemma3-270m", lora=lora)
    handle = PolicyHandle(policy.model, policy.tokenizer, lora.learning_rate)
    params = SamplingParams(temperature=1.0, max_tokens=8)
    start = time.perf_counter()
    for step in range(args.steps):
        groups = []
        for row in rows[2 * step : 2 * step + 2]:
            prompt = policy.prompt_ids(
                [{"role": "user", "content": PROMPT.format(r=row["review"])}]
            )
            outs = policy.sample([prompt] * 8, params)
            groups.append(
                Group(
                    row["id"],
                    [
                        Sample(
                            o.prompt_ids,
                            o.completion_ids,
                            o.logprobs,
                            label_reward(o.text, row["answer"]),
                            k,
                        )
                        for k, o in enumerate(outs)
                    ],
                )
            )
        train(RLBatch(groups), handle, SiaGRPOConfig(minibatch_size=16))
    ours = (time.perf_counter() - start) / args.steps

    # TRL's GRPOTrainer on the same prompts, model directory and LoRA.
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    answers = {PROMPT.format(r=r["review"]): r["answer"] for r in rows}

    def reward(prompts, completions, **_):
        return [label_reward(c, answers[p]) for p, c in zip(prompts, completions, strict=True)]

    dataset = Dataset.from_list([{"prompt": p} for p in answers])
    config = GRPOConfig(
        output_dir=str(Path("/tmp/sia-trl-bench")),
        use_cpu=True,
        bf16=False,
        num_generations=8,
        per_device_train_batch_size=16,
        max_completion_length=8,
        max_steps=args.steps,
        learning_rate=lora.learning_rate,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        temperature=1.0,
    )
    trainer = GRPOTrainer(
        model=str(model_dir("gemma3-270m")),
        reward_funcs=reward,
        args=config,
        train_dataset=dataset,
        peft_config=LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    start = time.perf_counter()
    trainer.train()
    theirs = (time.perf_counter() - start) / args.steps
    print(
        f"GRPO step, 16 completions of up to 8 tokens, Gemma 3 270M, CPU: sia {ours:.1f} s, "
        f"TRL GRPOTrainer {theirs:.1f} s; TRL / sia = {theirs / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
