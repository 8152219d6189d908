"""What a run is asked to do (`sia run`'s options, stored in run.json), and the task it
names."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sia_core import plugins
from sia_core.errors import SiaError
from sia_core.loop.run_dir import RunDir
from sia_core.tasks.task import Task, load_task_dir


@dataclass
class RunConfig:
    task: str | None = None
    task_dir: str | None = None
    max_gen: int = 3
    run_id: str | None = None
    backend: str = "heuristic"
    backend_options: dict[str, str] = field(default_factory=dict)
    meta_model: str | None = None
    task_model: str | None = None
    task_model_base: str | None = None
    sandbox: str = "local"
    runs_dir: str = "runs"
    seed: int = 0
    budget_tokens: int | None = None
    budget_cost_usd: float | None = None
    concurrency: int = 32
    parallel: int = 1
    exact: bool = False
    """The local policy samples every greedy call alone (`--exact`)."""
    """Sandboxes each run of a harness over a split is spread over (`--parallel`)."""
    reward_classifier: str = "stats"
    sandbox_options: dict[str, str] = field(default_factory=dict)
    """`--sandbox-opt KEY=VALUE` pairs, passed to the sandbox's factory."""
    policy_host: str | None = None
    """Where the open-weight task model is served and trained (None: in sia's process)."""
    policy_host_options: dict[str, str] = field(default_factory=dict)
    lora: dict[str, Any] = field(default_factory=dict)
    """Overrides of LoraSettings: rank, alpha, target_modules, learning_rate."""
    candidates: int = 1
    """Children proposed and evaluated per generation; the best is considered for keeping."""
    keep_rule: str = "raw"
    """"raw" (a better selection score) or "paired" (better by more than noise)."""
    parent: str = "incumbent"
    """Which generation a child is made from: "incumbent", or "archive" (sampled)."""


def resolve_task(config: RunConfig) -> Task:
    if config.task_dir:
        return load_task_dir(Path(config.task_dir))
    if not config.task:
        raise SiaError("name a task: --task NAME or --task-dir PATH")
    for loader in plugins.task_loaders():
        path = loader.resolve(config.task)
        if path is not None:
            return load_task_dir(path)
    known = sorted(info.name for loader in plugins.task_loaders() for info in loader.list_tasks())
    raise SiaError(
        f"no task {config.task!r}; known tasks: {', '.join(known) or 'none'} "
        "(`sia tasks` lists them); or pass --task-dir PATH"
    )


# How `sia run` spells each RunConfig field, for messages.
FLAGS = {
    "backend_options": "--backend-opt",
    "sandbox_options": "--sandbox-opt",
    "policy_host_options": "--policy-host-opt",
    "budget_cost_usd": "--budget-usd",
    "lora": "--lora-*",
}


def stored_config(rundir: RunDir, given: RunConfig, explicit: Collection[str] = ()) -> RunConfig:
    """The configuration of a run being resumed: the stored one, with only the
    generation count taken from `given` (to extend a finished run). A field named in
    `explicit` (given on the command line) must agree with the stored one: a resumed
    run keeps its configuration, and an option silently ignored would mislead."""
    if not rundir.exists():
        raise SiaError(
            f"nothing to resume: {rundir.path} has no run.json; drop --resume to start it"
        )
    state = rundir.read()
    pid = state.get("pid")
    if state.get("status") == "running" and pid and pid != os.getpid():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 0)
            raise SiaError(
                f"run {given.run_id!r} is still running (pid {pid}); stop it before resuming"
            )
    stored = RunConfig(**state["config"])
    for name in explicit:
        if name in ("max_gen", "run_id", "runs_dir", "parallel"):
            continue
        if getattr(given, name) != getattr(stored, name):
            flag = FLAGS.get(name, "--" + name.replace("_", "-"))
            raise SiaError(
                f"{flag} {getattr(given, name)!r} differs from run {given.run_id!r}'s own "
                f"{getattr(stored, name)!r}: a resumed run keeps the configuration in its "
                "run.json; drop the option, or start a new run with another --run-id"
            )
    stored.max_gen = given.max_gen or stored.max_gen
    if "parallel" in explicit:  # how wide it runs, not what it computes: may change
        stored.parallel = given.parallel
    return stored
