"""GRPO against the algorithm the reward-shape classifier picks, on the same budget.

Each algorithm gets a run of two generations through the real loop: generation 1 is
the task's reference harness on the base model (its rewards are what the classifier
reads), generation 2 keeps that harness and trains the adapter with the algorithm,
with the same rollout plan. Prints the selection and held-out test scores with counts.

    python benchmarks/weights_algorithms.py --task arithmetic [--k 8 --items 32 --rounds 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIA = str(Path(sys.executable).parent / "sia")


def run(
    task: str, algorithm: str | None, plan: dict[str, float], runs: Path, reference: Path
) -> Path:
    run_id = f"bench-{algorithm or 'base'}"
    script = runs / f"script-{run_id}"
    gen = script / "gen_2"
    gen.mkdir(parents=True)
    shutil.copy2(reference, gen / "target_agent.py")
    decision = {
        "lever": "weights",
        "algorithm": algorithm,
        "hyperparameters": {"rollout": plan},
        "rationale": "benchmark",
    }
    (gen / "decision.json").write_text(json.dumps(decision))
    subprocess.run(
        [
            SIA,
            "run",
            "--task",
            task,
            "--backend",
            "scripted",
            "--backend-opt",
            f"script={script}",
            "--max-gen",
            "2" if algorithm else "1",
            "--run-id",
            run_id,
            "--runs-dir",
            str(runs),
        ],
        check=True,
    )
    return runs / f"run_{run_id}"


def scores(run_dir: Path, number: int) -> str:
    record = json.loads((run_dir / f"gen_{number}" / "generation.json").read_text())
    summary = record.get("summary") or {}
    test = run_dir / f"gen_{number}" / "test" / "results.json"
    test_summary = json.loads(test.read_text())["summary"] if test.is_file() else None
    line = f"selection {record.get('score')} ({summary.get('correct')}/{summary.get('total')})"
    if test_summary:
        line += (
            f", test {test_summary['accuracy']:.4f} ({test_summary['correct']}/"
            f"{test_summary['total']})"
        )
    else:
        line += ", test not run (not better on selection)"
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="arithmetic")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs-dir", type=Path, default=None)
    args = parser.parse_args()
    runs = args.runs_dir or Path(tempfile.mkdtemp(prefix="sia-bench-"))
    from sia_core.loop import RunConfig, resolve_task

    reference = resolve_task(RunConfig(task=args.task)).reference_agent
    plan = {"k": args.k, "items": args.items, "rounds": args.rounds}
    base = run(args.task, None, plan, runs, reference)
    shape = json.loads((base / "gen_1" / "generation.json").read_text())["reward_shape"]
    chosen = shape["ranking"][0]
    print(f"base: {scores(base, 1)}")
    print(f"reward shape: {shape['label']} ({shape['explanation']}); classifier picks {chosen}")
    for algorithm in dict.fromkeys(["grpo", chosen]):
        started = time.monotonic()
        run_dir = run(args.task, algorithm, plan, runs, reference)
        print(f"{algorithm}: {scores(run_dir, 2)} [{time.monotonic() - started:.0f} s]")


if __name__ == "__main__":
    main()
