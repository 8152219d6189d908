"""Every installed RL algorithm on the same plan, through the real loop, in one table.

For each task, generation 1 (the task's reference harness on the base model) runs once;
its run directory is then copied for each algorithm and resumed with a scripted
generation 2 that keeps the harness and pulls the weights lever with that algorithm:
the same training items (drawn from the run's seed), the same rollout budget, the
algorithm's default options. Prints, per task and algorithm, the selection score, the
held-out test score before and after (the loop runs the test split only for a new
incumbent: "-" means the selection score did not improve), and the wall time of the
weights generation. The classifier's pick for the base rewards is marked with *.

    python benchmarks/weights_algorithms.py [--tasks sentiment,arithmetic]
        [--algorithms dpo,bon] [--k 8 --items 32 --rounds 2] [--runs-dir DIR]
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


def sia(*args: str) -> None:
    subprocess.run([SIA, *args], check=True, stdout=subprocess.DEVNULL)


def base_run(task: str, runs: Path) -> tuple[Path, Path]:
    """Generation 1 with the scripted backend and an empty script: the reference harness.
    A resumed run keeps its backend, so each algorithm's generation 2 is written into
    this same script directory just before its copy of the run is resumed."""
    script = runs / f"script-{task}"
    script.mkdir(parents=True)
    sia("run", "--task", task, "--backend", "scripted", "--backend-opt", f"script={script}",
        "--max-gen", "1", "--run-id", f"{task}-base", "--runs-dir", str(runs))  # fmt: skip
    return runs / f"run_{task}-base", script


def weights_run(
    task: str, base: Path, script: Path, algorithm: str, plan: dict[str, float]
) -> Path:
    run_id = f"{task}-{algorithm}"
    run_dir = base.parent / f"run_{run_id}"
    shutil.copytree(base, run_dir)
    gen = script / "gen_2"
    shutil.rmtree(gen, ignore_errors=True)
    gen.mkdir()
    shutil.copy2(base / "gen_1" / "target_agent.py", gen / "target_agent.py")
    decision = {
        "lever": "weights",
        "algorithm": algorithm,
        "hyperparameters": {"rollout": plan},
        "rationale": "benchmark: same plan for every algorithm",
    }
    (gen / "decision.json").write_text(json.dumps(decision))
    sia("run", "--resume", "--run-id", run_id, "--runs-dir", str(base.parent), "--max-gen", "2")
    training = json.loads((run_dir / "gen_2" / "adapter" / "training.json").read_text())
    assert training["algorithm"] == algorithm, training["algorithm"]
    return run_dir


def score_text(run_dir: Path, number: int) -> tuple[str, str]:
    generation = json.loads((run_dir / "run.json").read_text())["generations"][number - 1]
    selection = generation.get("score")
    test = generation.get("test_score")
    return (
        "failed" if selection is None else f"{selection:.3f}",
        "-" if test is None else f"{test:.3f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="sentiment,arithmetic")
    parser.add_argument("--algorithms", default=None, help="default: every installed one")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs-dir", type=Path, default=None)
    args = parser.parse_args()
    runs = args.runs_dir or Path(tempfile.mkdtemp(prefix="sia-bench-"))
    from sia_core import plugins

    installed = sorted(spec.name for spec in plugins.rl_algorithms())
    algorithms = args.algorithms.split(",") if args.algorithms else installed
    plan = {"k": args.k, "items": args.items, "rounds": args.rounds}
    print(f"plan: {plan}, seed 0, runs in {runs}")
    rows = []
    for task in args.tasks.split(","):
        started = time.monotonic()
        base, script = base_run(task, runs)
        base_seconds = time.monotonic() - started
        shape = json.loads((base / "gen_1" / "generation.json").read_text())["reward_shape"]
        before_selection, before_test = score_text(base, 1)
        print(
            f"{task}: base selection {before_selection}, test {before_test} "
            f"[{base_seconds:.0f} s]; rewards {shape['label']} ({shape['explanation']}); "
            f"classifier ranks {', '.join(shape['ranking'])}",
            flush=True,
        )
        for algorithm in algorithms:
            started = time.monotonic()
            run_dir = weights_run(task, base, script, algorithm, plan)
            seconds = time.monotonic() - started
            selection, test = score_text(run_dir, 2)
            pick = "*" if algorithm == shape["ranking"][0] else ""
            rows.append(
                (
                    task,
                    shape["label"],
                    algorithm + pick,
                    before_selection,
                    selection,
                    before_test,
                    test,
                    f"{seconds:.0f}",
                )  # fmt: skip
            )
            print(f"  {algorithm}{pick}: selection {selection}, test {test} [{seconds:.0f} s]",
                  flush=True)  # fmt: skip
    header = ("task", "shape", "algorithm", "sel. before", "sel. after", "test before",
              "test after", "wall s")  # fmt: skip
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
