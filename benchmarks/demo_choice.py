"""Two ways of choosing sentiment's demos that the harness's knobs leave out, measured:
more random demos than the knobs' 0..8, and each review's nearest training rows as its
own demos (TF-IDF cosine or Jaccard overlap of word sets, the nearest placed last, next to
the question).

Each is scored on the selection and held-out rows through one sia gateway serving the
embedded model (greedy, the reference harness's plain question and parsing). Random
demos draw one subset per seed at every count, so the means compare like with like;
nearest demos depend on no seed. Nearest demos come from the rows a harness reads at each
stage: on the selection rows, the train.csv of the selection view (the selection rows
carved out); on the held-out rows, the task's whole train.csv. `--fresh N` also scores them
on N fresh reviews from the task's generator (benchmarks/fresh_rows.py), beside the 8
random demos benchmarks/peers.py draws as its baseline for each of `--seeds`, on the same
rows.

Usage: .venv/bin/python benchmarks/demo_choice.py [--counts 8 12 16]
       [--seeds 0 1 2 3 4 5] [--nearest 4 8] [--similarity tfidf jaccard]
       [--fresh 300]
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

from fresh_rows import fresh_rows, task_train  # noqa: E402
from peers_harness import SPECS, Served, Splits, answer_all, fixed_draw, splits  # noqa: E402

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


class Overlap:
    """Training rows ranked by Jaccard overlap of their word sets with a review's: every
    shared word counts alike, so a row with the review's template and its adjective
    outranks one that only shares a rare product name."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows = rows
        self.sets = [set(_words(r["review"])) for r in rows]

    def demos(self, review: str, k: int) -> list[dict[str, str]]:
        query = set(_words(review))
        scores = [len(query & s) / (len(query | s) or 1) for s in self.sets]
        top = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        return [self.rows[i] for i in reversed(top)]


INDEXES = {"tfidf": Nearest, "jaccard": Overlap}


def nearest_accuracy(
    served: Served, index: Nearest | Overlap, rows: list[dict[str, str]], k: int
) -> float:
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


def nearest_table(served: Served, data: Splits, args: argparse.Namespace) -> None:
    whole = task_train()
    fresh = fresh_rows(args.fresh) if args.fresh else []
    column = f" fresh ({len(fresh)}) |" if fresh else ""
    print(f"| nearest demos | similarity | held-out | selection |{column} seconds |")
    print("|---|---|---|---|---|" + ("---|" if fresh else ""))
    for name in args.similarity:
        on_test, on_selection = INDEXES[name](whole), INDEXES[name](data.train)
        for k in args.nearest:
            start = time.perf_counter()
            test = nearest_accuracy(served, on_test, data.test, k)
            sel = nearest_accuracy(served, on_selection, data.selection, k)
            new = f" {nearest_accuracy(served, on_test, fresh, k):.3f} |" if fresh else ""
            print(f"| {k} | {name} | {test:.2f} | {sel:.3f} |{new} "
                  f"{time.perf_counter() - start:.0f} |", flush=True)  # fmt: skip
    for seed in args.seeds if fresh else []:
        hits = answer_all(served, SPEC, fixed_draw(data, seed), fresh)
        print(f"| 8 random demos (peers.py's baseline, seed {seed}) | | | | "
              f"{sum(hits.values()) / len(hits):.3f} | |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="*", default=[8, 12, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--nearest", type=int, nargs="*", default=[4, 8])
    parser.add_argument("--similarity", nargs="+", choices=sorted(INDEXES),
                        default=["tfidf", "jaccard"])  # fmt: skip
    parser.add_argument("--fresh", type=int, default=0, metavar="N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sia-demos-") as tmp:
        data = splits("sentiment", Path(tmp) / "views")
        served = Served(Path(tmp))
        try:
            if args.counts:
                random_counts(served, data, args.counts, args.seeds)
                print()
            if args.nearest:
                nearest_table(served, data, args)
        finally:
            served.close()


if __name__ == "__main__":
    main()
