"""Two ways of choosing sentiment's demos that the harness's knobs leave out, measured:
more random demos than the knobs' 0..8, and each review's nearest training rows as its
own demos (TF-IDF cosine over words, the nearest placed last, next to the question).

Each is scored on the selection and held-out rows through one sia gateway serving the
embedded model (greedy, the reference harness's plain question and parsing). Random
demos draw one subset per seed at every count, so the means compare like with like;
nearest demos depend on no seed.

Usage: .venv/bin/python benchmarks/demo_choice.py [--counts 8 12 16]
       [--seeds 0 1 2 3 4 5] [--nearest 4 8]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_harness import SPECS, Served, Splits, answer_all, splits  # noqa: E402

SPEC = SPECS["sentiment"]


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[a-z']+", text.lower()))


class Nearest:
    """Training rows ranked by TF-IDF cosine to a review."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows = rows
        docs = [_words(r["review"]) for r in rows]
        df = Counter(w for d in docs for w in d)
        self.idf = {w: math.log((1 + len(docs)) / (1 + c)) + 1 for w, c in df.items()}
        self.vectors = [self._unit(d) for d in docs]

    def _unit(self, counts: Counter[str]) -> dict[str, float]:
        weights = {w: c * self.idf.get(w, 0.0) for w, c in counts.items()}
        norm = math.sqrt(sum(x * x for x in weights.values())) or 1.0
        return {w: x / norm for w, x in weights.items()}

    def demos(self, review: str, k: int) -> list[dict[str, str]]:
        query = self._unit(_words(review))
        scores = [sum(query.get(w, 0.0) * x for w, x in v.items()) for v in self.vectors]
        top = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        return [self.rows[i] for i in reversed(top)]


def nearest_accuracy(served: Served, index: Nearest, rows: list[dict[str, str]], k: int) -> float:
    def one(row: dict[str, str]) -> bool:
        # One row at a time through the shared helper: each row has its own demos.
        return answer_all(served, SPEC, index.demos(row["review"], k), [row])[row["id"]]

    with ThreadPoolExecutor(32) as pool:
        hits = list(pool.map(one, rows))
    return sum(hits) / len(hits)


def random_counts(served: Served, data: Splits, counts: list[int], seeds: list[int]) -> None:
    print("| random demos | held-out per seed | mean | sd | selection mean |")
    print("|---|---|---|---|---|")
    for count in counts:
        tests, sels = [], []
        for seed in seeds:
            demos = random.Random(f"c{count}-{seed}").sample(data.train, count)
            test = answer_all(served, SPEC, demos, data.test)
            sel = answer_all(served, SPEC, demos, data.selection)
            tests.append(sum(test.values()) / len(test))
            sels.append(sum(sel.values()) / len(sel))
        print(f"| {count} | {', '.join(f'{t:.2f}' for t in tests)} | "
              f"{statistics.mean(tests):.3f} | {statistics.pstdev(tests):.3f} | "
              f"{statistics.mean(sels):.3f} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="*", default=[8, 12, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--nearest", type=int, nargs="*", default=[4, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sia-demos-") as tmp:
        data = splits("sentiment", Path(tmp) / "views")
        served = Served(Path(tmp))
        try:
            if args.counts:
                random_counts(served, data, args.counts, args.seeds)
                print()
            if args.nearest:
                index = Nearest(data.train)
                print("| nearest demos | held-out | selection | seconds |")
                print("|---|---|---|---|")
                for k in args.nearest:
                    start = time.perf_counter()
                    test = nearest_accuracy(served, index, data.test, k)
                    sel = nearest_accuracy(served, index, data.selection, k)
                    print(f"| {k} | {test:.2f} | {sel:.3f} | {time.perf_counter() - start:.0f} |",
                          flush=True)  # fmt: skip
        finally:
            served.close()


if __name__ == "__main__":
    main()
