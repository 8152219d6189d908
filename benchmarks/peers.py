"""sia against its peers, side by side, measured in one run on this machine.

    pip install -e '.[peers]'      # TRL and DSPy: the benchmark's extra, not sia's
    python benchmarks/peers.py [--tasks sentiment arithmetic] [--seeds 0 1 2]
        [--max-gen 5] [--rounds 4] [--items 32] [--k 8] [--weights-seeds 0 1 2]
        [--trainers sia trl] [--skip-harness] [--skip-weights] [--json peers.json]
    python benchmarks/peers.py --from-json a.json [b.json ...]   # reprint, run nothing

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def harness_table(task: str, results: dict[str, list[dict[str, Any]]], seeds: list[int]
                  ) -> list[str]:  # fmt: skip
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
    return lines + ["", *paired_lines(results), "", *per_seed_lines(results, seeds), "",
                    *harness_goals(results, seeds)]  # fmt: skip


def _two_sided(better: int, worse: int) -> float:
    from sia_core.loop.keep_rule import mcnemar_one_sided

    return min(1.0, 2 * min(mcnemar_one_sided(better, worse), mcnemar_one_sided(worse, better)))


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _counts(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[int, int, int]:
    """Items, sia right where the arm is wrong, the reverse: one seed's held-out answers."""
    better = sum(right and not theirs["hits"][i] for i, right in ours["hits"].items())
    worse = sum(theirs["hits"][i] and not right for i, right in ours["hits"].items())
    return len(ours["hits"]), better, worse


def paired_lines(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """sia against each other arm item by item, every seed's held-out items pooled: how
    many sia answers right that the arm gets wrong and the reverse, and the exact
    two-sided sign test on them (McNemar's), so a gap of a point or two reads as what it is."""
    lines = [
        "sia against each arm on the same held-out items (all seeds pooled):",
        "",
        "| arm | items | sia right, arm wrong | arm right, sia wrong | two-sided p |",
        "|---|---|---|---|---|",
    ]
    for arm, runs in results.items():
        if arm == "sia":
            continue
        counts = [_counts(o, t) for o, t in zip(results["sia"], runs, strict=True)]
        items, better, worse = (sum(c[k] for c in counts) for k in range(3))
        lines.append(f"| {arm} | {items} | {better} | {worse} | {_p(_two_sided(better, worse))} |")
    return lines


def per_seed_lines(results: dict[str, list[dict[str, Any]]], seeds: list[int]) -> list[str]:
    """The same sign test seed by seed: whether a seed where sia scored below an arm is a
    difference or a few items either way."""
    arms = [a for a in results if a != "sia"]
    lines = [
        "Seed by seed (sia right where the arm is wrong / the reverse, two-sided p):",
        "",
        "| seed | " + " | ".join(arms) + " |",
        "|---|" + "---|" * len(arms),
    ]
    for k, (seed, ours) in enumerate(zip(seeds, results["sia"], strict=True)):
        cells = []
        for arm in arms:
            _, better, worse = _counts(ours, results[arm][k])
            cells.append(f"{better} / {worse} (p {_p(_two_sided(better, worse))})")
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return lines


DSPY = ("dspy-random-search", "dspy-bootstrap", "dspy-labeled")
BASELINE = "fixed-8-demos"


def harness_goals(results: dict[str, list[dict[str, Any]]], seeds: list[int],
                  level: float = 0.05) -> list[str]:  # fmt: skip
    """The issue's three harness goals, each read off this run: sia's mean against the
    best DSPy optimizer's, its seed spread against that optimizer's, and the seeds where
    it is not above the 8-random-demo prompt (with whether that is significant)."""
    sia = [r["test"] for r in results["sia"]]
    present = [a for a in DSPY if results.get(a)]
    lines = ["Goals:", ""]
    if present:
        best = max(present, key=lambda a: statistics.mean(r["test"] for r in results[a]))
        theirs = [r["test"] for r in results[best]]
        pairs = zip(results["sia"], results[best], strict=True)
        budget = all(o["evals"] <= t["evals"] for o, t in pairs)
        lines.append(
            f"- mean {statistics.mean(sia):.3f} against {best}'s {statistics.mean(theirs):.3f}"
            f" ({'met' if statistics.mean(sia) >= statistics.mean(theirs) else 'not met'};"
            f" sia's selection evaluations {'no more' if budget else 'MORE'} than its)"
        )
        ours_spread, their_spread = max(sia) - min(sia), max(theirs) - min(theirs)
        lines.append(
            f"- spread {ours_spread:.2f} against {their_spread:.2f} "
            f"({'met' if ours_spread <= their_spread + 1e-9 else 'not met'}; standard "
            f"deviation over seeds {statistics.pstdev(sia):.3f} against "
            f"{statistics.pstdev(theirs):.3f})"
        )
    if results.get(BASELINE):
        below = []
        for seed, ours, theirs in zip(seeds, results["sia"], results[BASELINE], strict=True):
            if ours["test"] <= theirs["test"]:
                _, better, worse = _counts(ours, theirs)
                p = _two_sided(better, worse)
                sig = "significant" if p < level else "not significant"
                below.append(f"seed {seed}: {ours['test']:.2f} against {theirs['test']:.2f}, "
                             f"{better} / {worse}, p {_p(p)}, {sig}")  # fmt: skip
        count = len(results["sia"])
        lines.append(
            f"- above {BASELINE} on {count - len(below)} of {count} seeds"
            + (f" (not above on {'; '.join(below)})" if below else " (met)")
        )
    return lines


def weights_table(results: list[dict[str, Any]], seeds: list[int], rounds: int) -> list[str]:
    lines = [
        "**sentiment**, weights lever: held-out accuracy after rounds 0–"
        f"{rounds}, seconds per round",
        "",
        "| seed | trainer | held-out after each round | seconds per round | total s |",
        "|---|---|---|---|---|",
    ]
    for seed, result in zip(seeds, results, strict=True):
        for name, label in (("sia", "sia (sia_rl_grpo)"), ("trl", "TRL GRPOTrainer")):
            arm = result.get(name)
            if arm is None:
                lines.append(f"| {seed} | {label} | not run | | |")
                continue
            lines.append(
                f"| {seed} | {label} | {' → '.join(f'{s:.2f}' for s in arm['held_out'])} | "
                f"{', '.join(f'{s:.0f}' for s in arm['seconds'])} | {sum(arm['seconds']):.0f} |"
            )
    return lines + ["", *weights_goals(results, seeds)]


def weights_goals(results: list[dict[str, Any]], seeds: list[int], factor: float = 5.0
                  ) -> list[str]:  # fmt: skip
    """Round for round: how many times less time sia's round took than TRL's, and whether
    sia's held-out after it is at least TRL's; the goal is met on a seed when every round
    is both ≥ `factor`× faster and no lower."""
    lines = ["Round for round (TRL seconds / sia seconds; sia's held-out − TRL's after it):", ""]
    met = 0
    for seed, result in zip(seeds, results, strict=True):
        sia, trl = result.get("sia"), result.get("trl")
        if sia is None or trl is None:
            lines.append(f"- seed {seed}: only {'sia' if trl is None else 'TRL'} ran, nothing "
                         "to compare in this run: not met")  # fmt: skip
            continue
        done = min(len(sia["seconds"]), len(trl["seconds"]))
        ratios = [trl["seconds"][r] / sia["seconds"][r] for r in range(done)]
        gaps = [sia["held_out"][r + 1] - trl["held_out"][r + 1] for r in range(done)]
        ok = done > 0 and all(x >= factor for x in ratios) and all(g >= -1e-9 for g in gaps)
        met += ok
        total = sum(trl["seconds"][:done]) / max(sum(sia["seconds"][:done]), 1e-9)
        lines.append(
            f"- seed {seed}: {', '.join(f'{x:.1f}x' for x in ratios)} ({total:.1f}x in all); "
            f"{', '.join(f'{g:+.2f}' for g in gaps)}: {'met' if ok else 'not met'}"
        )
    return lines + ["", f"Weights goal (≥ {factor:.0f}x less time, held-out ≥ TRL's, every "
                        f"round): met on {met} of {len(results)} seeds"]  # fmt: skip


def _seeds(args: dict[str, str], key: str) -> list[int]:
    return [int(s) for s in args[key].strip("[]").split(",") if s.strip()]


HARNESS_KEYS = ("test", "evals", "seconds", "hits")
WEIGHTS_KEYS = ("held_out", "seconds")


class RecordError(ValueError):
    """A --from-json file that is not what `peers.py --json` writes."""


def _shape_error(path: Path, what: str) -> RecordError:
    return RecordError(f"{path}: {what}; give the files that `peers.py --json` wrote")


def _check_harness(path: Path, key: str, results: Any, seeds: list[int]) -> None:
    """Every arm has a run per seed with the fields the tables read, and per-item hits on
    at least sia's items (the paired comparison looks each one up)."""
    if not isinstance(results, dict) or not isinstance(results.get("sia"), list):
        raise _shape_error(path, f"{key} has no sia arm")
    for arm, runs in results.items():
        if not isinstance(runs, list) or len(runs) != len(seeds):
            raise _shape_error(path, f"{key} arm {arm} does not have one run per seed {seeds}")
        for run in runs:
            if not isinstance(run, dict) or any(k not in run for k in HARNESS_KEYS):
                raise _shape_error(path, f"{key} arm {arm} lacks {', '.join(HARNESS_KEYS)}")
        for ours, theirs in zip(results["sia"], runs, strict=True):
            if not isinstance(theirs["hits"], dict) or set(ours["hits"]) - set(theirs["hits"]):
                raise _shape_error(path, f"{key} arm {arm} lacks hits on sia's items")


def _check_weights(path: Path, runs: Any, seeds: list[int]) -> None:
    """A run per finished seed, each trainer with its held-out score before the first
    round and after each round it timed."""
    if not isinstance(runs, list) or len(runs) != len(seeds):
        raise _shape_error(path, f"the weights runs are not one per finished seed {seeds}")
    for run in runs:
        # A run of one trainer (`--trainers`) has only its arm.
        arms = [run[a] for a in ("sia", "trl") if a in run] if isinstance(run, dict) else []
        if not arms or any(
            not isinstance(a, dict) or any(k not in a for k in WEIGHTS_KEYS) for a in arms
        ):
            raise _shape_error(path, "a weights run lacks sia/trl held_out and seconds")
        if any(len(a["held_out"]) != len(a["seconds"]) + 1 for a in arms):
            raise _shape_error(path, "a weights run's held_out is not one longer than seconds")


@dataclass
class Records:
    """What the --json files of earlier runs hold, merged: each harness task from the last
    file that has it, the weights seeds of every file in order."""

    harness: dict[str, tuple[Any, list[int]]] = field(default_factory=dict)
    weights: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    rounds: int = 0


def read_records(paths: list[Path]) -> Records:
    """The files' numbers, checked for the shape the tables read, so that a wrong file
    is named here and a table that fails later is a bug in the tables."""
    records = Records()
    for path in paths:
        try:
            record = json.loads(path.read_text())
            args = record["args"]
            for key, results in record.items():
                if key.startswith("harness/"):
                    seeds = _seeds(args, "seeds")
                    _check_harness(path, key, results, seeds)
                    records.harness[key] = (results, seeds)
            if "weights" in record:
                done = [int(s) for s in record.get("weights_done")
                        or _seeds(args, "weights_seeds")]  # fmt: skip
                _check_weights(path, record["weights"], done)
                records.weights += record["weights"]
                records.seeds += done
                records.rounds = max(records.rounds, int(args["rounds"]))
        except RecordError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _shape_error(path, f"{exc.__class__.__name__} {exc}") from exc
    return records


def from_json(records: Records) -> list[str]:
    """The tables again from earlier runs' numbers."""
    lines: list[str] = []
    for key, (results, task_seeds) in records.harness.items():
        lines += harness_table(key.removeprefix("harness/"), results, task_seeds) + [""]
    if records.weights:
        lines += weights_table(records.weights, records.seeds, records.rounds)
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
    parser.add_argument(
        "--trainers", nargs="+", choices=["sia", "trl"], default=["sia", "trl"],
        help="the weights lever's trainers to run (one alone: its numbers, no ratios; TRL "
        "takes about an hour a seed on 2 cores)",
    )  # fmt: skip
    parser.add_argument("--skip-harness", action="store_true")
    parser.add_argument("--skip-weights", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every number here")
    parser.add_argument(
        "--from-json", type=Path, nargs="+",
        help="run nothing: print the tables of earlier runs' --json files",
    )  # fmt: skip
    args = parser.parse_args()
    if args.from_json:
        missing = [str(p) for p in args.from_json if not p.is_file()]
        if missing:
            sys.exit(f"peers.py: no such file: {', '.join(missing)}; give the --json files "
                     "of earlier runs")  # fmt: skip
        try:
            records = read_records(args.from_json)
        except RecordError as exc:
            sys.exit(f"peers.py: {exc}")
        print("\n".join(from_json(records)))
        return
    record: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    lines: list[str] = []

    def keep() -> None:
        # A run takes an hour or more: each finished part is on disk at once, so a stop
        # loses only the part under way (`--from-json` prints what is there).
        if args.json:
            args.json.write_text(json.dumps(record, indent=1))

    if not args.skip_harness:
        from peers_harness import run_task

        for task in args.tasks:
            results = run_task(task, args.seeds, args.max_gen, log, args.trials)
            record[f"harness/{task}"] = results
            keep()
            lines += harness_table(task, results, args.seeds) + [""]
    if not args.skip_weights:
        from peers_weights import compare

        runs: list[dict[str, Any]] = []
        record["weights"], record["weights_done"] = runs, []
        for seed in args.weights_seeds:
            with tempfile.TemporaryDirectory(prefix="sia-peers-w-") as tmp:
                runs.append(compare(seed, args.rounds, args.items, args.k, Path(tmp), log,
                                    tuple(args.trainers)))  # fmt: skip
            record["weights_done"].append(seed)
            keep()
        lines += weights_table(runs, args.weights_seeds, args.rounds)
    keep()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
