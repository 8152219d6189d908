"""Is a per-seed gap on sentiment's 100 held-out rows a real difference or the noise of
100 rows? The harness sia's run ended on and the fixed 8-random-demo prompt of the same
seed (benchmarks/peers.py's baseline), each scored on the task's 100 held-out rows and
on N fresh rows drawn from the generator that made the task (another seed of it; rows
whose review is in the task's train or test file are dropped), item by item.

Nothing here chooses anything: both prompts are fixed before the fresh rows exist, and
the fresh rows are never shown to sia. The 100-row score is printed beside them as a
check that the prompt is the harness as written (it must equal the run's own held-out
score), and the score on the selection rows sia chose by, to show whether they rank the
two prompts as the fresh rows do.

Usage: .venv/bin/python benchmarks/fresh_rows.py [--seeds 0 1 2] [--rows 1000]
       [--trials 2] [--runs DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import _p, _two_sided  # noqa: E402
from peers_harness import (  # noqa: E402
    PromptSpec,
    Served,
    answers,
    fixed_draw,
    sentiment_spec,
    sia_arm,
    splits,
    task_path,
)


def fresh_rows(n: int) -> list[dict[str, str]]:
    """`n` reviews from the task's own generator, none of them in the task's files (its
    train.csv and test.csv), so every benchmark that scores on them drops the same rows."""
    from sia_tasks_offline.build import _review

    from sia_core.tasks.splits import read_rows

    public = task_path("sentiment") / "data" / "public"
    seen = {r["review"] for name in ("train.csv", "test.csv") for r in read_rows(public / name)[1]}
    rng = random.Random("fresh-rows")
    out: list[dict[str, str]] = []
    for _ in range(200 * n):
        if len(out) == n:
            break
        review, label = _review(rng)
        if review in seen:
            continue
        seen.add(review)
        out.append({"id": f"f{len(out):05d}", "review": review, "answer": label})
    return out


def task_train() -> list[dict[str, str]]:
    """The task's whole train.csv, in file order: what the harness reads its demos from
    when it answers the held-out rows."""
    from sia_core.tasks.splits import read_rows

    return read_rows(task_path("sentiment") / "data" / "public" / "train.csv")[1]


def question(source: str, choice: str) -> str:
    """The question the harness asks for its QUESTION value `choice`, read (never run) from
    its own ASK table; a harness the run rewrote into something else is named, not run."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ASK" for t in node.targets
        ):
            try:
                table = ast.literal_eval(node.value)
            except ValueError:
                break
            if isinstance(table, dict) and isinstance(table.get(choice), str):
                return table[choice]
            break
    raise SystemExit(
        f"the final harness has no literal ASK table with a question for QUESTION={choice!r}: "
        "this benchmark reads the reference harness's prompt shape only"
    )


def final_prompt(run: Path, train: list[dict[str, str]]) -> tuple[PromptSpec, list[dict[str, str]]]:
    """The prompt and demos of the harness the run ended on, read from its knobs, as the
    harness builds them from the task's full train.csv."""
    from sia_core.harness.knobs import read_knobs

    best = json.loads((run / "run.json").read_text())["best"]["generation"]
    harness = run / f"gen_{best}" / "target_agent.py"
    values = {k.name: k.value for k in read_knobs(harness)}
    if values.get("VOTES", 1) > 1 and values.get("TEMPERATURE", 0.0) > 0:
        raise SystemExit(
            f"{run}: the final harness samples votes; this benchmark reads greedy ones"
        )
    by_id = {row["id"]: row for row in train}
    demos = [by_id[i] for i in values.get("DEMO_IDS") or [] if i in by_id]
    demos = demos or train[: values.get("SHOTS", 0)]
    ask = question(harness.read_text(), values.get("QUESTION", "plain"))
    return sentiment_spec(ask), demos


def compare(served: Served, prompts: dict[str, tuple[PromptSpec, list[dict[str, str]]]],
            rows: list[dict[str, str]]) -> dict[str, list[bool]]:  # fmt: skip
    return {
        name: [
            a == r["answer"] for a, r in zip(answers(served, spec, demos, rows), rows, strict=True)
        ]
        for name, (spec, demos) in prompts.items()
    }


def line(seed: int, what: str, hits: dict[str, list[bool]]) -> str:
    sia, fixed = hits["sia"], hits["fixed"]
    better = sum(s and not f for s, f in zip(sia, fixed, strict=True))
    worse = sum(f and not s for s, f in zip(sia, fixed, strict=True))
    n = len(sia)
    return (f"| {seed} | {what} ({n}) | {sum(sia) / n:.3f} | {sum(fixed) / n:.3f} | "
            f"{better} / {worse} | {_p(_two_sided(better, worse))} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--runs", type=Path, help="keep sia's runs here and reuse them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sia-fresh-") as tmp:
        runs = args.runs or Path(tmp) / "runs"
        data = splits("sentiment", Path(tmp) / "views")
        full_train = task_train()
        fresh = fresh_rows(args.rows)
        if len(fresh) < args.rows:
            print(f"the generator has only {len(fresh)} reviews not in the task", file=sys.stderr)
        for seed in args.seeds:
            if not (runs / f"run_sentiment-s{seed}" / "run.json").is_file():
                sia_arm("sentiment", seed, 5, runs, args.trials)
                print(f"seed {seed}: sia's run done", file=sys.stderr)
        served = Served(Path(tmp))
        try:
            report(served, data, full_train, fresh, runs, args.seeds)
        finally:
            served.close()


def report(served: Served, data: Any, full_train: list[dict[str, str]],
           fresh: list[dict[str, str]], runs: Path, seeds: list[int]) -> None:  # fmt: skip
    print("| seed | rows | sia's final harness | 8 random demos | sia right, fixed wrong / "
          "the reverse | two-sided p |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    pooled: dict[str, list[bool]] = {"sia": [], "fixed": []}
    for seed in seeds:
        run = runs / f"run_sentiment-s{seed}"
        prompts = {
            "sia": final_prompt(run, full_train),
            "fixed": (sentiment_spec(), fixed_draw(data, seed)),
        }
        held = compare(served, prompts, data.test)
        expected = json.loads((run / "run.json").read_text())["best"]["test_score"]
        if abs(sum(held["sia"]) / len(held["sia"]) - expected) > 1e-9:
            raise SystemExit(f"{run}: the prompt read from its knobs scores "
                             f"{sum(held['sia'])}/100, the run says {expected}")  # fmt: skip
        print(line(seed, "held-out", held), flush=True)
        print(line(seed, "selection", compare(served, prompts, data.selection)), flush=True)
        new = compare(served, prompts, fresh)
        print(line(seed, "fresh", new), flush=True)
        for name in pooled:
            pooled[name] += new[name]
    print(line(-1, "fresh, seeds pooled", pooled).replace("| -1 |", "| all |"))


if __name__ == "__main__":
    main()
