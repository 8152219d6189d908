"""`sia ablate`: the paper's four arms for any task — initial (generation 1 only),
harness only, weights only, both — with the same seeds and generation budget, each an
ordinary `sia run` in its own run directory, side by side with `--jobs K`; then the
table (report/ablation.py), printed and written to ablation.json beside the runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from sia_core.errors import SiaError

LEVERS = {"initial": "both", "harness": "harness", "weights": "weights", "both": "both"}
OWNED = ("--backend", "--seed", "--max-gen", "--run-id", "--runs-dir", "--resume")
"""`sia run` options the ablation sets itself for every arm."""
DONE = ("finished", "stopped", "failed")


def _seeds(given: str, extra: list[str]) -> tuple[list[int], list[str]]:
    """The seeds of `--seeds 0 1 2` (click takes one value; the others stay among the
    arguments passed on to `sia run`, and are taken back here), and the rest."""
    argv = sys.argv
    more: list[str] = []
    if "--seeds" in argv:
        at = argv.index("--seeds") + 2
        while at < len(argv) and argv[at].isdigit():
            more.append(argv[at])
            at += 1
    rest = list(extra)
    for token in reversed(more):
        if token in rest:
            del rest[len(rest) - 1 - rest[::-1].index(token)]
    try:
        seeds = [int(s) for s in given.replace(",", " ").split()] + [int(t) for t in more]
    except ValueError:
        raise SiaError(f"--seeds {given!r}: give whole numbers, e.g. --seeds 0 1 2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise SiaError(f"--seeds {' '.join(map(str, seeds))}: give distinct whole numbers")
    return seeds, rest


def _refuse_owned(extra: list[str]) -> None:
    for arg in extra:
        name = arg.split("=", 1)[0]
        if name in OWNED:
            raise SiaError(f"{name}: sia ablate sets it for every arm; drop it")
        if arg.startswith("levers=") or arg == "--backend-opt=levers":
            raise SiaError("levers=: sia ablate runs every lever setting itself; drop it")


def _command(arm: str, seed: int, config: dict[str, Any], runs: Path, resume: bool) -> list[str]:
    from sia_core.report.ablation import run_id

    task = ["--task", config["task"]] if config.get("task") else ["--task-dir", config["task_dir"]]
    gens = 1 if arm == "initial" else config["max_gen"]
    args = [
        str(Path(sys.executable).parent / "sia"), "run", *task, "--backend", "heuristic",
        "--backend-opt", f"levers={LEVERS[arm]}", "--max-gen", str(gens),
        "--seed", str(seed), "--run-id", run_id(arm, seed), "--runs-dir", str(runs),
        *config["extra"],
    ]  # fmt: skip
    return [*args, "--resume"] if resume else args


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_per_run(jobs: int) -> int | None:
    """The math threads each run may use when `jobs` run side by side: this machine's
    cores shared out. None for one job at a time, or when the user set OMP_NUM_THREADS
    (theirs is kept). Every run's torch otherwise takes every core, and K runs' threads
    spinning on the same cores made two runs side by side slower than one after another
    (measured on 2 cores: 3.5x the time per run)."""
    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return max(1, len(os.sched_getaffinity(0)) // jobs)


def _env(threads: int | None) -> dict[str, str] | None:
    if threads is None:
        return None
    return {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}


def _state(runs: Path, arm: str, seed: int) -> dict[str, Any] | None:
    from sia_core.report.ablation import run_id

    path = runs / f"run_{run_id(arm, seed)}" / "run.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _one(
    arm: str, seed: int, config: dict[str, Any], runs: Path, say: Any, threads: int | None
) -> float:
    """Run (or go on with) one arm's run; its seconds this time (0 if already done)."""
    from sia_core.report.ablation import run_id

    state = _state(runs, arm, seed)
    if state is not None and state.get("status") in DONE:
        say(f"{run_id(arm, seed)}: already {state['status']}, not run again")
        return 0.0
    log = runs / "logs" / f"{run_id(arm, seed)}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"{run_id(arm, seed)}: {'resuming' if state else 'starting'}")
    started = time.monotonic()
    with log.open("a", encoding="utf-8") as out:
        code = subprocess.run(
            _command(arm, seed, config, runs, resume=state is not None),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
            env=_env(threads),
        ).returncode  # fmt: skip
    seconds = time.monotonic() - started
    after = _state(runs, arm, seed)
    status = after.get("status") if after else "no run.json"
    say(f"{run_id(arm, seed)}: {status} in {seconds:.0f} s (exit {code}; log {log.name})")
    if code == 2 and after is None:
        last = (log.read_text(encoding="utf-8").strip().splitlines() or ["?"])[-1]
        raise SiaError(f"{run_id(arm, seed)} did not start: {last}")
    return seconds


def _write(path: Path, data: dict[str, Any]) -> None:
    from sia_core.store import atomic_write_json

    atomic_write_json(path, data)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--task", default=None, help="A task name (`sia tasks`).")
@click.option("--task-dir", default=None, type=click.Path(file_okay=False), help="A task dir.")
@click.option("--seeds", default="0 1 2", show_default=True, help="Seeds: --seeds 0 1 2.")
@click.option("--max-gen", default=5, show_default=True, type=click.IntRange(2, 1000))
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Runs side by side.")  # fmt: skip
@click.option("--ablation-id", default=None, help="Its name (default: a timestamp).")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="Go on with an interrupted ablation.")
@click.pass_context
def ablate_cmd(
    ctx: click.Context,
    task: str | None,
    task_dir: str | None,
    seeds: str,
    max_gen: int,
    jobs: int,
    ablation_id: str | None,
    runs_dir: str,
    resume: bool,
) -> None:
    """The paper's table for a task: initial | harness only | weights only | both, over
    SEEDS, each arm an ordinary run (sia show / report / --resume work on each) under
    RUNS_DIR/ablation_ID/. Options after the known ones go to every `sia run` (e.g.
    --task-model M, --keep-rule paired)."""
    from sia_core.report.ablation import ARMS, lines, read_seed, table

    if resume and not ablation_id:
        raise SiaError("--resume needs --ablation-id: the ablation to go on with")
    ablation_id = ablation_id or time.strftime("%Y%m%d-%H%M%S")
    root = Path(runs_dir) / f"ablation_{ablation_id}"
    record_path = root / "ablation.json"
    if resume:
        if not record_path.is_file():
            raise SiaError(f"nothing to resume: {record_path} does not exist")
        record = json.loads(record_path.read_text(encoding="utf-8"))
        config = record["config"]
    else:
        if root.exists():
            raise SiaError(f"{root} exists: add --resume to go on with it, or pick another id")
        if not (task or task_dir) or (task and task_dir):
            raise SiaError("name the task: --task NAME or --task-dir PATH (one of them)")
        seed_list, extra = _seeds(seeds, list(ctx.args))
        _refuse_owned(extra)
        config = {
            "task": task,
            "task_dir": str(Path(task_dir).resolve()) if task_dir else None,
            "seeds": seed_list,
            "max_gen": max_gen,
            "extra": extra,
        }
        record = {"id": ablation_id, "config": config, "seconds": {}, "wall_s": 0.0}
        root.mkdir(parents=True)
        _write(record_path, record)
    jobs_list = [(arm, seed) for seed in config["seeds"] for arm in ARMS]
    threads = threads_per_run(jobs)
    record["jobs"], record["threads_per_run"] = jobs, threads
    if threads is not None:
        click.echo(f"{jobs} runs side by side, {threads} math thread(s) each", err=True)
    started = time.monotonic()

    def say(line: str) -> None:
        click.echo(line, err=True)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = {
            (arm, seed): pool.submit(_one, arm, seed, config, root, say, threads)
            for arm, seed in jobs_list
        }
        for (arm, seed), future in futures.items():
            key = f"{arm}-s{seed}"
            record["seconds"][key] = record["seconds"].get(key, 0.0) + future.result()
            _write(record_path, record)  # a kill keeps the seconds of finished runs
    record["wall_s"] = record.get("wall_s", 0.0) + time.monotonic() - started
    arms = {
        arm: [
            r for seed in config["seeds"]
            if (r := read_seed(root, arm, seed, record["seconds"].get(f"{arm}-s{seed}", 0.0)))
        ]
        for arm in ARMS
    }  # fmt: skip
    record.update(table(arms))
    record["sum_run_s"] = sum(record["seconds"].values())
    _write(record_path, record)
    metric = next(
        (s.get("task", {}).get("metric") for s in (_state(root, "initial", x) for x in
         config["seeds"]) if s), "score",
    )  # fmt: skip
    click.echo("\n".join(lines(record, str(metric))))
    click.echo(
        f"\nwall time {record['wall_s']:.0f} s with --jobs {jobs}; the runs one after "
        f"another took {record['sum_run_s']:.0f} s; table in {record_path}"
    )
