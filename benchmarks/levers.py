"""The paper's central table on this machine: harness only vs weights only vs both.

For each task, seed and lever setting, one `sia run --backend heuristic --backend-opt
levers=X` with the same generation count; prints the held-out test score of each run's
final incumbent (initial = generation 1, the reference harness on the base model), the
mean and spread over seeds, how long each run took and which levers it pulled. Runs
already on disk are reused, so an interrupted benchmark goes on where it stopped.

Usage: .venv/bin/python benchmarks/levers.py [--tasks arithmetic sentiment]
       [--seeds 0 1] [--max-gen 5] [--runs DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = ("harness", "weights", "both")


def run(task: str, seed: int, levers: str, max_gen: int, runs: Path) -> dict:
    name = f"levers-{task}-{levers}-{seed}"
    state_file = runs / f"run_{name}" / "run.json"
    timing = runs / f"run_{name}" / "benchmark_seconds.txt"
    done = ("finished", "stopped", "failed")
    if not state_file.is_file() or json.loads(state_file.read_text())["status"] not in done:
        started = time.monotonic()
        resume = ["--resume"] if state_file.is_file() else []
        subprocess.run(
            [
                str(Path(sys.executable).parent / "sia"), "run", "--task", task,
                "--backend", "heuristic", "--backend-opt", f"levers={levers}",
                "--max-gen", str(max_gen), "--seed", str(seed), "--run-id", name,
                "--runs-dir", str(runs), *resume,
            ],
            check=False,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        earlier = float(timing.read_text()) if resume and timing.is_file() else 0.0
        timing.write_text(f"{earlier + time.monotonic() - started:.0f}\n")
    state = json.loads(state_file.read_text())
    gens = state["generations"]
    best = state.get("best") or {}
    return {
        "initial": gens[0].get("test_score") if gens else None,
        "final": best.get("test_score"),
        "seconds": float(timing.read_text()) if timing.is_file() else float("nan"),
        "levers": " ".join(
            ("H" if g.get("lever") == "harness" else "W") + ("*" if g.get("incumbent") else "")
            for g in gens[1:]
        ),
        "status": state.get("status"),
    }


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    return f"{100 * mean:5.1f}% ({100 * min(values):.1f}–{100 * max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", default=["arithmetic", "sentiment"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--max-gen", type=int, default=5)
    parser.add_argument("--runs", type=Path, default=Path("runs-levers"))
    args = parser.parse_args()
    runs = args.runs.resolve()
    table: dict[str, dict[str, list[dict]]] = {}
    for task in args.tasks:
        for seed in args.seeds:
            for levers in SETTINGS:
                result = run(task, seed, levers, args.max_gen, runs)
                table.setdefault(task, {}).setdefault(levers, []).append(result)
                print(
                    f"{task} seed {seed} levers={levers}: test {result['final']} "
                    f"({result['seconds']:.0f} s; {result['status']}; gens 2+: "
                    f"{result['levers']})",
                    flush=True,
                )
    print()
    print(
        f"held-out test of the final incumbent, mean (min–max) over seeds {args.seeds}, "
        f"--max-gen {args.max_gen}, 2 CPU cores"
    )
    print(f"{'task':<11} {'initial':<22} {'harness only':<22} {'weights only':<22} {'both':<22}")
    for task, by_setting in table.items():
        initial = [r["initial"] for r in by_setting["both"] if r["initial"] is not None]
        cells = [cell(initial)] + [
            cell([r["final"] for r in by_setting[s] if r["final"] is not None]) for s in SETTINGS
        ]
        print(f"{task:<11} " + " ".join(f"{c:<22}" for c in cells))
        seconds = {s: statistics.fmean(r["seconds"] for r in by_setting[s]) for s in SETTINGS}
        print(
            f"{'':<11} mean run time: "
            + ", ".join(f"{s} {seconds[s] / 60:.1f} min" for s in SETTINGS)
        )
        both = [r["final"] or 0.0 for r in by_setting["both"]]
        for single in ("harness", "weights"):
            other = [r["final"] or 0.0 for r in by_setting[single]]
            gain = 100 * (statistics.fmean(both) - statistics.fmean(other))
            print(
                f"{'':<11} both − {single} only: mean {gain:+.1f} points; "
                f"seed spread (max−min) both {100 * (max(both) - min(both)):.1f}, "
                f"{single} {100 * (max(other) - min(other)):.1f}"
            )


if __name__ == "__main__":
    main()
