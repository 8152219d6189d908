"""How fast can RL move the embedded model on arithmetic? Held-out accuracy per round.

The levers table (benchmarks/levers.py) stops short of the 30% goal on arithmetic; this
asks whether any weights recipe learns fast enough on 2 CPU cores. Outside the loop, so
that only the recipe varies: the reference harness's best measured prompt ("equation"
format, train.csv's first 8 rows as demos), greedy answers on the last 120 rows of
train.csv before training and after each round; each round draws 32 other rows, samples
K=8 answers per row at the recipe's temperature, rewards exact answers, and hands the
groups to the algorithm plugin, as the weights lever does. A fresh LoRA per recipe.

    python benchmarks/arithmetic_weights.py [--rounds 4] [--recipes default,wide,...]
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sia_core import plugins  # noqa: E402
from sia_core.policy.local import LocalPolicy, LoraSettings, SamplingParams  # noqa: E402
from sia_core.weights.rl import Group, RLBatch, Sample  # noqa: E402

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
RECIPES = {
    # name: (algorithm, learning rate, LoRA modules, sampling temperature, epochs)
    "default": ("entropic", 2e-4, ATTENTION, 1.0, 2),
    "grpo": ("grpo", 2e-4, ATTENTION, 1.0, 2),
    "wide": ("entropic", 5e-4, ATTENTION + MLP, 1.0, 2),
    "hot": ("entropic", 1e-3, ATTENTION + MLP, 0.7, 4),
}
K, ITEMS, DEMOS, HELD = 8, 32, 8, 120


def answer(text: str) -> str:
    found = re.search(r"-?\d+", text)
    return found.group(0) if found else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--recipes", default="default,grpo,wide")
    args = parser.parse_args()
    from sia_tasks_offline.build import task_dir

    with (task_dir("arithmetic") / "data" / "public" / "train.csv").open() as fh:
        rows = [(r["problem"], r["answer"]) for r in csv.DictReader(fh)]
    demos, pool, held = rows[:DEMOS], rows[DEMOS:-HELD], rows[-HELD:]
    head = "".join(f"{q} = {a}\n" for q, a in demos)

    def solve(policy: LocalPolicy, problems: list[str], temperature: float) -> list:
        prompts = [
            policy.prompt_ids([{"role": "user", "content": f"{head}{q} ="}]) for q in problems
        ]
        params = SamplingParams(
            temperature=temperature, max_tokens=4, stop=("\n",), stop_at_newline=True
        )
        done = []
        for i in range(0, len(prompts), 128):
            done += policy.sample(prompts[i : i + 128], params)
        return done

    def accuracy(policy: LocalPolicy) -> float:
        done = solve(policy, [q for q, _ in held], 0.0)
        return sum(answer(c.text) == a for c, (_, a) in zip(done, held, strict=True)) / len(held)

    print(f"held-out accuracy ({HELD} rows, greedy), before and after each round:")
    print(f"{ITEMS} rows x K={K} samples per round, the embedded model, a fresh LoRA per recipe")
    for name in args.recipes.split(","):
        algorithm, lr, modules, temperature, epochs = RECIPES[name]
        spec = plugins.rl_algorithm(algorithm)
        config = spec.config(epochs=epochs, learning_rate=lr)
        policy = LocalPolicy.load("gemma3-270m", lora=LoraSettings(target_modules=modules))
        rng = random.Random(0)
        started = time.monotonic()
        curve = [accuracy(policy)]
        rewards = []
        for round_no in range(args.rounds):
            items = rng.sample(pool, ITEMS)
            done = solve(policy, [q for q, _ in items for _ in range(K)], temperature)
            groups = []
            for i, (_, gold) in enumerate(items):
                samples = [
                    Sample(
                        c.prompt_ids, c.completion_ids, c.logprobs,
                        float(answer(c.text) == gold), j, temperature,
                    )
                    for j, c in enumerate(done[i * K : (i + 1) * K])
                ]  # fmt: skip
                groups.append(Group(item_id=str(i), samples=samples))
            batch = RLBatch(groups)
            rewards.append(sum(batch.rewards) / len(batch.rewards))
            policy.train(algorithm, spec.trainer, batch, config, round_no)
            curve.append(accuracy(policy))
        seconds = time.monotonic() - started
        print(
            f"{name:<8} {algorithm} lr {lr:g}, LoRA on {len(modules)} modules, T {temperature}: "
            + " -> ".join(f"{100 * a:.1f}%" for a in curve)
            + f" | rollout reward {', '.join(f'{r:.2f}' for r in rewards)}"
            + f" | best/initial {max(curve[1:]) / max(curve[0], 1e-9):.2f}, {seconds:.0f} s",
            flush=True,
        )
        policy.close()


if __name__ == "__main__":
    main()
