"""How often does a keep rule keep a generation whose held-out test score is lower than
its parent's? Runs a task (`sentiment` unless --task says) with the heuristic backend
under the raw rule for several seeds, then judges every scored generation (2+) against
the incumbent it faced with both rules, from the per-item selection rewards on disk; a
generation's test score is the recorded one, or `sia eval --split test` for one that
was not kept.

Usage: .venv/bin/python benchmarks/keep_rules.py [--task sentiment] [--seeds 0 1 2]
       [--max-gen 4] [--runs DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from sia_core.execution.trajectories import item_rewards
from sia_core.loop import keep_rule
from sia_core.loop.reeval import reevaluate
from sia_core.loop.run_dir import RunDir


def run(task: str, seed: int, max_gen: int, runs: Path) -> Path:
    name = f"keep-{seed}" if task == "sentiment" else f"keep-{task}-{seed}"
    rundir = runs / f"run_{name}"
    if not (rundir / "run.json").is_file():
        started = time.monotonic()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "sia"), "run", "--task", task,
                "--backend", "heuristic", "--max-gen", str(max_gen), "--seed", str(seed),
                "--run-id", name, "--runs-dir", str(runs),
            ],
            check=False,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"seed {seed}: run took {time.monotonic() - started:.0f} s", flush=True)
    return rundir


def num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-gen", type=int, default=4)
    parser.add_argument("--runs", type=Path, default=Path("runs-keep-rules"))
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        path = run(args.task, seed, args.max_gen, args.runs.resolve())
        rundir = RunDir(path)
        records = rundir.records()
        for i, record in enumerate(records):
            if record.number == 1 or record.status != "ok":
                continue
            incumbent = next((r for r in reversed(records[:i]) if r.incumbent), None)
            if incumbent is None:
                continue
            test = record.test_score
            if test is None:
                test = reevaluate(path, record.number, "test", 1).mean
            verdicts = {
                rule: keep_rule.decide(
                    rule,
                    item_rewards(rundir.gen_dir(record.number)),
                    item_rewards(rundir.gen_dir(incumbent.number)),
                    record.score,
                    incumbent.score,
                    "max",
                    seed=seed,
                )
                for rule in keep_rule.RULES
            }
            rows.append((seed, record, incumbent, test, verdicts))
    print("seed gen  selection (vs inc)   test (vs inc)   raw   paired  p")
    counts = {rule: [0, 0] for rule in keep_rule.RULES}  # kept, kept with lower test
    for seed, record, incumbent, test, verdicts in rows:
        parent_test = incumbent.test_score
        lower = test is not None and parent_test is not None and test < parent_test
        for rule, verdict in verdicts.items():
            counts[rule][0] += verdict.kept
            counts[rule][1] += verdict.kept and lower
        print(
            f"{seed:>4} {record.number:>3}  {record.score:.4f} ({incumbent.score:.4f})"
            f"   {num(test)} ({num(incumbent.test_score)})"
            f"   {'keep' if verdicts['raw'].kept else '-':>4}"
            f"   {'keep' if verdicts['paired'].kept else '-':>4}"
            f"   {verdicts['paired'].p_value:.3f}"
        )
    print(f"generations judged: {len(rows)}")
    for rule, (kept, lower) in counts.items():
        print(f"{rule}: kept {kept}, of which {lower} scored lower on test than the parent")


if __name__ == "__main__":
    main()
