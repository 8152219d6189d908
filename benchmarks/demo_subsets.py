"""What the demo subsets sia's harness lever scored on sentiment do on the held-out rows,
and whether reading the answer differently or combining subsets would have done better.

For each seed it runs (or reuses, under --runs) `sia run --task sentiment --backend
heuristic --backend-opt levers=harness --backend-opt trials=N --max-gen 5`, takes every
demo subset the run scored on selection (plain question, one greedy answer), and runs
each on the 100 held-out rows through one sia gateway serving the embedded model:

- greedy: the harness as written (demos in the order the run chose);
- 3 orders: a majority vote over that order and two seeded shuffles of the same demos;
- labels: the answer read off the log-probabilities of " positive" / " negative" (and
  their capitalised and unspaced forms) at the answer's first token;
- calibrated: the same, less the label log-odds of three content-free reviews ("N/A",
  "", "[MASK]") under the same demos (Zhao et al., 2021, "Calibrate before use").

Per run it also prints the held-out score of the subset with the best selection score
(random search's rule), of a majority vote over the best 3 and 5 subsets, and the best
held-out score among the best 5 (what no rule of choosing among them can pass).
`--greedy-only` measures the greedy answer alone (a fifth of the model calls).

Usage: .venv/bin/python benchmarks/demo_subsets.py [--seeds 0 1 2] [--trials 2]
       [--runs DIR] [--greedy-only]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_harness import SPECS, Served, answers, sia_arm, splits  # noqa: E402

from sia_core.harness.knob_search import KnobSearch  # noqa: E402

SPEC = SPECS["sentiment"]
LABEL_FORMS = {"positive": (" positive", " Positive", "positive"),
               "negative": (" negative", " Negative", "negative")}  # fmt: skip
CONTENT_FREE = ("N/A", "", "[MASK]")


def subsets(run: Path, seed: int) -> list[tuple[float, list[str]]]:
    """(selection score, demo ids) of every distinct demo subset the run scored with the
    plain question and one greedy answer, in the order it scored them."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for row in KnobSearch(run, "max", seed).table():
        values = row.get("values") or {}
        ids = values.get("DEMO_IDS") or []
        plain = values.get("QUESTION") == "plain" and values.get("VOTES") == 1
        if row["state"] != "complete" or not ids or not plain or tuple(ids) in seen:
            continue
        seen.add(tuple(ids))
        out.append((float(row["score"]), [str(i) for i in ids]))
    return out


def label_log_odds(served: Served, demos: list[dict[str, str]], reviews: list[str]) -> list[float]:
    """log P(positive) − log P(negative) at the answer's first token, per review."""
    import torch

    policy = served.policy
    tokenizer = policy.tokenizer
    first = {label: [tokenizer.encode(f, add_special_tokens=False)[0] for f in forms]
             for label, forms in LABEL_FORMS.items()}  # fmt: skip
    prefix = "".join(SPEC.demo(d["review"], d["answer"]) for d in demos)
    out: list[float] = []
    with policy.lock, torch.no_grad():
        policy.model.eval()
        for start in range(0, len(reviews), 8):
            batch = [policy.prompt_ids([{"role": "user", "content": prefix + SPEC.query(r)}])
                     for r in reviews[start : start + 8]]  # fmt: skip
            width = max(map(len, batch))
            ids = torch.full((len(batch), width), tokenizer.pad_token_id or 0)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, prompt in enumerate(batch):
                ids[row, width - len(prompt) :] = torch.tensor(prompt)
                mask[row, width - len(prompt) :] = 1
            logits = policy.model(input_ids=ids, attention_mask=mask).logits[:, -1].float()
            logp = torch.log_softmax(logits, dim=-1)
            for row in range(len(batch)):
                pos = torch.logsumexp(logp[row, first["positive"]], 0)
                neg = torch.logsumexp(logp[row, first["negative"]], 0)
                out.append(float(pos - neg))
    return out


def accuracy(predicted: list[str], rows: list[dict[str, str]]) -> float:
    return sum(p == r["answer"] for p, r in zip(predicted, rows, strict=True)) / len(rows)


def vote(predictions: list[list[str]]) -> list[str]:
    return [Counter(item).most_common(1)[0][0] for item in zip(*predictions, strict=True)]


def measure(served: Served, data: Any, ids: list[str], greedy_only: bool) -> dict[str, Any]:
    by_id = {r["id"]: r for r in data.train}
    demos = [by_id[i] for i in ids]
    if greedy_only:
        given = answers(served, SPEC, demos, data.test)
        return {"greedy": accuracy(given, data.test), "answers": given}
    orders = [demos] + [random.Random(f"{k}-{ids}").sample(demos, len(demos)) for k in (1, 2)]
    given = [answers(served, SPEC, order, data.test) for order in orders]
    odds = label_log_odds(served, demos, [r["review"] for r in data.test])
    bias = statistics.mean(label_log_odds(served, demos, list(CONTENT_FREE)))

    def read(shift: float) -> list[str]:
        return ["positive" if o > shift else "negative" for o in odds]

    return {
        "greedy": accuracy(given[0], data.test),
        "3 orders": accuracy(vote(given), data.test),
        "labels": accuracy(read(0.0), data.test),
        "calibrated": accuracy(read(bias), data.test),
        "answers": given[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--runs", type=Path, help="keep sia's runs here and reuse them")
    parser.add_argument(
        "--greedy-only", action="store_true", help="only the harness's own greedy answer",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sia-subsets-") as tmp:
        runs = args.runs or Path(tmp) / "runs"
        data = splits("sentiment", Path(tmp) / "views")
        found = {}
        for seed in args.seeds:
            run = runs / f"run_sentiment-s{seed}"
            if not (run / "run.json").is_file():
                sia_arm("sentiment", seed, 5, runs, args.trials)
            found[seed] = subsets(run, seed)
            print(f"seed {seed}: {len(found[seed])} demo subsets scored", file=sys.stderr)
        served = Served(Path(tmp))
        try:
            report(served, data, found, args.greedy_only)
        finally:
            served.close()


def report(served: Served, data: Any, found: dict[int, list[tuple[float, list[str]]]],
           greedy_only: bool) -> None:  # fmt: skip
    ways = ("greedy",) if greedy_only else ("greedy", "3 orders", "labels", "calibrated")
    print("| seed | selection | " + " | ".join(ways) + " |")
    print("|---|---|" + "---|" * len(ways))
    every: list[dict[str, Any]] = []
    picks: dict[str, list[float]] = {"best selection": [], "vote top 3": [], "vote top 5": [],
                                     "best held-out of top 5": []}  # fmt: skip
    for seed, scored in found.items():
        measured = []
        for selection, ids in scored:
            result = measure(served, data, ids, greedy_only)
            measured.append((selection, result))
            cells = " | ".join(f"{result[w]:.2f}" for w in ways)
            print(f"| {seed} | {selection:.4f} | {cells} |", flush=True)
        every += [r for _, r in measured]
        ranked = [r for _, r in sorted(measured, key=lambda m: -m[0])]
        picks["best selection"].append(ranked[0]["greedy"])
        for k in (3, 5):
            picks[f"vote top {k}"].append(accuracy(vote([r["answers"] for r in ranked[:k]]),
                                                   data.test))  # fmt: skip
        picks["best held-out of top 5"].append(max(r["greedy"] for r in ranked[:5]))
    means = " | ".join(f"{statistics.mean(r[w] for r in every):.3f}" for w in ways)
    print(f"| mean of {len(every)} | | {means} |")
    print()
    for name, scores in picks.items():
        print(f"{name}: {', '.join(f'{s:.2f}' for s in scores)} "
              f"(mean {statistics.mean(scores):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
