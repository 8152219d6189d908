"""sia against its peers, side by side, measured in one run on this machine.

    pip install -e '.[peers]'      # TRL and DSPy: the benchmark's extra, not sia's
    python benchmarks/peers.py [--tasks sentiment arithmetic] [--seeds 0 1 2]
        [--max-gen 5] [--rounds 4] [--items 32] [--k 8] [--weights-seeds 0 1 2]
        [--skip-harness] [--skip-weights] [--json peers.json]

Harness lever (benchmarks/peers_harness.py): sia's `--backend heuristic --backend-opt
levers=harness` against DSPy 3.4.1's LabeledFewShot, BootstrapFewShot and
BootstrapFewShotWithRandomSearch (given as many selection evaluations as sia's run
used) and a fixed prompt with 8 random training rows as demos; held-out accuracy per
seed, mean and spread, selection evaluations and seconds.

Weights lever (benchmarks/peers_weights.py): sia_rl_grpo against TRL 1.16's
GRPOTrainer on sentiment, held-out after every round and seconds per round; the ratio
of their total seconds.

Prints markdown tables (docs/configuration.md, "sia and its peers", is this output).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def harness_table(task: str, results: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [
        f"**{task}**, harness lever: held-out accuracy of each seed's final program",
        "",
        "| arm | held-out per seed | mean | spread (max − min) | selection evaluations | "
        "seconds (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for arm, runs in results.items():
        scores = [r["test"] for r in runs]
        lines.append(
            f"| {arm} | {', '.join(f'{s:.3f}' for s in scores)} | "
            f"{statistics.mean(scores):.3f} | {max(scores) - min(scores):.2f} | "
            f"{', '.join(str(r['evals']) for r in runs)} | "
            f"{statistics.mean(r['seconds'] for r in runs):.0f} |"
        )
    return lines + ["", *paired_lines(results)]


def paired_lines(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """sia against each other arm item by item, every seed's held-out items pooled: how
    many sia answers right that the arm gets wrong and the reverse, and the exact
    two-sided sign test on them (McNemar's), so a gap of a point or two reads as what it is."""
    from sia_core.loop.keep_rule import mcnemar_one_sided

    lines = [
        "sia against each arm on the same held-out items (all seeds pooled):",
        "",
        "| arm | items | sia right, arm wrong | arm right, sia wrong | two-sided p |",
        "|---|---|---|---|---|",
    ]
    for arm, runs in results.items():
        if arm == "sia":
            continue
        better = worse = items = 0
        for ours, theirs in zip(results["sia"], runs, strict=True):
            for item, right in ours["hits"].items():
                items += 1
                better += right and not theirs["hits"][item]
                worse += theirs["hits"][item] and not right
        p = min(1.0, 2 * min(mcnemar_one_sided(better, worse), mcnemar_one_sided(worse, better)))
        shown = "< 0.001" if p < 0.001 else f"{p:.3f}"
        lines.append(f"| {arm} | {items} | {better} | {worse} | {shown} |")
    return lines


def weights_table(results: list[dict[str, dict[str, list[float]]]], rounds: int) -> list[str]:
    lines = [
        "**sentiment**, weights lever: held-out accuracy after rounds 0–"
        f"{rounds}, seconds per round",
        "",
        "| seed | trainer | held-out after each round | seconds per round | total s |",
        "|---|---|---|---|---|",
    ]
    ratios = []
    for seed, result in enumerate(results):
        for name, label in (("sia", "sia (sia_rl_grpo)"), ("trl", "TRL GRPOTrainer")):
            arm = result[name]
            lines.append(
                f"| {seed} | {label} | {' → '.join(f'{s:.2f}' for s in arm['held_out'])} | "
                f"{', '.join(f'{s:.0f}' for s in arm['seconds'])} | {sum(arm['seconds']):.0f} |"
            )
        ratios.append(sum(result["trl"]["seconds"]) / sum(result["sia"]["seconds"]))
    lines += ["", f"TRL seconds / sia seconds, per seed: {', '.join(f'{r:.1f}x' for r in ratios)}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["sentiment", "arithmetic"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-gen", type=int, default=5)
    parser.add_argument(
        "--trials", type=int, default=2,
        help="knob trials per sia harness generation: 1 + (max-gen - 1) * trials harnesses "
        "scored on selection, and DSPy's random search gets as many",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--items", type=int, default=32, help="prompts per round")
    parser.add_argument("--k", type=int, default=8, help="completions per prompt")
    parser.add_argument("--weights-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--skip-harness", action="store_true")
    parser.add_argument("--skip-weights", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    record: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    lines: list[str] = []
    if not args.skip_harness:
        from peers_harness import run_task

        for task in args.tasks:
            results = run_task(task, args.seeds, args.max_gen, log, args.trials)
            record[f"harness/{task}"] = results
            lines += harness_table(task, results) + [""]
    if not args.skip_weights:
        from peers_weights import compare

        runs = []
        for seed in args.weights_seeds:
            with tempfile.TemporaryDirectory(prefix="sia-peers-w-") as tmp:
                runs.append(compare(seed, args.rounds, args.items, args.k, Path(tmp), log))
        record["weights"] = runs
        lines += weights_table(runs, args.rounds)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
