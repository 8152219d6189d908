"""The paper's central table on this machine: initial | harness only | weights only | both.

A thin call of `sia ablate` per task (the logic, the intervals and the interaction live
there): each arm and seed is an ordinary run under RUNS/ablation_levers-TASK/, reused
when it is already on disk, so an interrupted benchmark goes on where it stopped.

Usage: .venv/bin/python benchmarks/levers.py [--tasks arithmetic sentiment]
       [--seeds 0 1] [--max-gen 5] [--jobs 1] [--runs DIR] [SIA RUN OPTIONS ...]

Options it does not know go to every run, as `sia ablate` passes them on; e.g. a CPU
finishes the sentiment table in minutes with a smaller weights rollout:
  benchmarks/levers.py --tasks sentiment --backend-opt items=8 --backend-opt k=4 \
      --backend-opt rounds=1 --backend-opt trials=1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", default=["arithmetic", "sentiment"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--max-gen", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=Path("runs-levers"))
    args, passed_on = parser.parse_known_args()
    sia = str(Path(sys.executable).parent / "sia")
    for task in args.tasks:
        ablation = f"levers-{task}"
        again = (args.runs / f"ablation_{ablation}" / "ablation.json").is_file()
        command = [sia, "ablate", "--ablation-id", ablation, "--runs-dir", str(args.runs),
                   "--jobs", str(args.jobs)]  # fmt: skip
        if again:
            command.append("--resume")
        else:
            command += ["--task", task, "--max-gen", str(args.max_gen),
                        *passed_on, "--seeds", *map(str, args.seeds)]  # fmt: skip
        print(f"## {task}\n", flush=True)
        subprocess.run(command, check=False)
        print(flush=True)


if __name__ == "__main__":
    main()
