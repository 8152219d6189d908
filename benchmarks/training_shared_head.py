"""The trainers' log-probs and gradients with a prompt head shared by the batch run once,
against every row run in full: one GRPO-sized minibatch (16 samples) of the sentiment
prompts the weights lever trains on (5 demos, then the review), forward and backward
through the embedded task model with its LoRA adapter.

python benchmarks/training_shared_head.py [--samples 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_harness import SPECS, splits  # noqa: E402

from sia_core.policy.local import LocalPolicy, LoraSettings  # noqa: E402
from sia_core.weights.rl import Sample, completion_logprobs  # noqa: E402
from sia_core.weights.shared_head import shared_head  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = SPECS["sentiment"]
    with TemporaryDirectory() as scratch:
        data = splits("sentiment", Path(scratch))
    rng = random.Random(0)
    demos = rng.sample(data.train, 5)
    prefix = "".join(spec.demo(d["review"], d["answer"]) for d in demos)
    policy = LocalPolicy.load("gemma3-270m", lora=LoraSettings())
    samples = []
    for row in rng.sample(data.train, args.samples):
        text = prefix + spec.query(row["review"])
        prompt = policy.prompt_ids([{"role": "user", "content": text}])
        answer = policy.tokenizer.encode(" " + row["answer"], add_special_tokens=False)
        samples.append(Sample(prompt, answer, [0.0] * len(answer), 1.0, len(samples)))
    longest = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    head = shared_head([s.prompt_ids for s in samples], longest, None)
    params = [p for p in policy.model.parameters() if p.requires_grad]
    policy.model.train()

    def step(share: bool) -> tuple[Any, list[Any]]:
        policy.model.zero_grad()
        logprobs, mask = completion_logprobs(policy.model, samples, share_head=share)
        logprobs.sum().backward()
        return logprobs.detach(), [p.grad.clone() for p in params]

    def timed(share: bool) -> tuple[float, Any, list[Any]]:
        step(share)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            logprobs, grads = step(share)
            times.append(time.perf_counter() - start)
        return statistics.median(times), logprobs, grads

    shared_s, shared_lp, shared_g = timed(True)
    plain_s, plain_lp, plain_g = timed(False)
    drift = (shared_lp - plain_lp).abs().max().item()
    rel = max(((a - b).norm() / b.norm().clamp(min=1e-12)).item()
              for a, b in zip(shared_g, plain_g, strict=True))  # fmt: skip
    print(f"{len(samples)} samples, prompts of {min(len(s.prompt_ids) for s in samples)}-"
          f"{max(len(s.prompt_ids) for s in samples)} tokens, {head} shared")  # fmt: skip
    ratio = plain_s / shared_s
    print(f"forward + backward, shared head once: {shared_s:.2f} s; every row in full: "
          f"{plain_s:.2f} s; ratio {ratio:.2f}x (median of {args.repeats})")  # fmt: skip
    print(f"largest log-prob difference {drift:.1e}, largest relative gradient difference "
          f"{rel:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
