"""Local policy sampling: one batched generate call vs one call per item, items/s.

python benchmarks/sampling_batched.py [--items 48] [--model gemma3-270m]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sia_core.policy.local import LocalPolicy, SamplingParams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--max-tokens", type=int, default=3)
    args = parser.parse_args()
    from sia_tasks_offline.build import task_dir

    with (task_dir("sentiment") / "data" / "public" / "train.csv").open() as fh:
        reviews = [row["review"] for row in csv.DictReader(fh)][: args.items]
    policy = LocalPolicy.load(args.model)
    prompts = [
        policy.prompt_ids([{"role": "user", "content": f"Review: {r}\nSentiment:"}])
        for r in reviews
    ]
    params = SamplingParams(temperature=0, max_tokens=args.max_tokens, stop_at_newline=True)
    policy.sample(prompts[:2], params)  # warm-up
    start = time.perf_counter()
    batched = policy.sample(prompts, params)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    single = [policy.sample([p], params)[0] for p in prompts]
    single_s = time.perf_counter() - start
    same = sum(a.completion_ids == b.completion_ids for a, b in zip(batched, single, strict=True))
    print(f"model {args.model}, {len(prompts)} items, {args.max_tokens} new tokens, greedy")
    print(
        f"batched: {len(prompts) / batched_s:.1f} items/s; one at a time: "
        f"{len(prompts) / single_s:.1f} items/s; ratio {single_s / batched_s:.1f}x"
    )
    print(f"identical greedy completions: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
