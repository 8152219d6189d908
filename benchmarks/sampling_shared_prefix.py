"""Local policy sampling with a prompt head shared by the batch computed once, against
every row prefilled in full, on the arithmetic reference harness's few-shot prompts.

python benchmarks/sampling_shared_prefix.py [--items 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time

from sia_core.policy.local import LocalPolicy, SamplingParams


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="gemma3-270m")
    args = parser.parse_args()
    from sia_tasks_offline.build import task_dir

    with (task_dir("arithmetic") / "data" / "public" / "train.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    shots = "".join(f"Q: {r['problem']} = ?\nA: {r['answer']}\n\n" for r in rows[:4])
    policy = LocalPolicy.load(args.model)
    prompts = [
        policy.prompt_ids([{"role": "user", "content": f"{shots}Q: {r['problem']} = ?\nA:"}])
        for r in rows[4 : 4 + args.items]
    ]
    params = SamplingParams(temperature=0, max_tokens=4, stop=("\n",), stop_at_newline=True)
    shared = policy._shared_prefix(prompts, params.max_tokens)
    policy.sample(prompts[:2], params)  # warm-up

    def timed() -> tuple[float, list]:
        times, out = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = policy.sample(prompts, params)
            times.append(time.perf_counter() - start)
        return statistics.median(times), out

    cached_s, cached = timed()
    policy.MIN_SHARED_PREFIX = 10**9  # the plain path
    plain_s, plain = timed()
    same = sum(a.completion_ids == b.completion_ids for a, b in zip(cached, plain, strict=True))
    drift = max(
        abs(x - y)
        for a, b in zip(cached, plain, strict=True)
        for x, y in zip(a.logprobs, b.logprobs, strict=False)  # equal when the ids are
    )
    print(f"{len(prompts)} prompts of {len(prompts[0])} tokens, {shared} shared; greedy, 4 new")
    print(f"shared head once: {cached_s:.2f} s; every row in full: {plain_s:.2f} s; "
          f"ratio {plain_s / cached_s:.2f}x (median of {args.repeats})")  # fmt: skip
    print(f"identical completions {same}/{len(prompts)}, largest log-prob difference {drift:.1e}")


if __name__ == "__main__":
    main()
