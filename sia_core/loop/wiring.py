"""What a run is wired from: its configuration and directory, the backend, the reward
classifier, and the executor that runs a harness (task, sandbox, task model, gateway
budget). The loop and its steps read these; `sia eval` builds only the executor."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from sia_core import plugins
from sia_core.backends.contract import Backend
from sia_core.errors import SiaError
from sia_core.execution.executor import Executor
from sia_core.gateway.server import Budget
from sia_core.gateway.serving import TaskModel
from sia_core.loop.run_config import FLAG_OF, RunConfig
from sia_core.loop.run_dir import RunDir
from sia_core.progress import Reporter
from sia_core.sandbox.bwrap import require_bwrap
from sia_core.specs import RewardClassifierSpec
from sia_core.tasks.task import Task, load_task_dir


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
            flag = FLAG_OF.get(name, "--" + name.replace("_", "-"))
            raise SiaError(
                f"{flag} {getattr(given, name)!r} differs from run {given.run_id!r}'s own "
                f"{getattr(stored, name)!r}: a resumed run keeps the configuration in its "
                "run.json; drop the option, or start a new run with another --run-id"
            )
    stored.max_gen = given.max_gen or stored.max_gen
    if "parallel" in explicit:  # how wide it runs, not what it computes: may change
        stored.parallel = given.parallel
    return stored


def make_executor(config: RunConfig, run_path: Path) -> Executor:
    """The task, sandbox, task model and gateway budget of a run's configuration: what
    runs a harness, for the loop and for `sia eval`."""
    task = resolve_task(config)
    if config.parallel > 1 and task.config.shards is None:
        raise SiaError(
            f"--parallel {config.parallel}: task {task.name!r} does not say how to cut its "
            "rows into shards; add a [parallel] section to its task.toml (docs/tasks.md), "
            "or drop --parallel"
        )
    sandbox = plugins.make_sandbox(config.sandbox, config.sandbox_options)
    serving = TaskModel(
        config.task_model or task.config.task_model,
        config.task_model_base,
        config.lora,
        config.seed,
        run_path / "sia.log",
        host=config.policy_host,
        host_options=config.policy_host_options,
        exact=config.exact,
    )
    if config.policy_host is not None:
        plugins.policy_host(config.policy_host)  # an unknown name: one line, before any work
    return Executor(
        task=task,
        sandbox=sandbox,
        serving=serving,
        budget=Budget(config.budget_tokens, config.budget_cost_usd),
        concurrency=config.concurrency,
        parallel=config.parallel,
        seed=config.seed,
        run_path=run_path,
        # The evaluator runs in bubblewrap whatever runs the agent (unless the user chose
        # an unshielded sandbox by name).
        bwrap=require_bwrap(config.sandbox_options.get("bwrap")) if sandbox.shielded else None,
    )


def require_reachable(executor: Executor) -> None:
    """Stop before any work when the task model cannot answer: every call would fail
    and its zeros would read as scores."""
    problem = executor.serving.unreachable()
    if problem:
        raise SiaError(problem)


@dataclass
class Wiring:
    config: RunConfig
    rundir: RunDir
    backend: Backend
    classifier: RewardClassifierSpec
    executor: Executor
    selection: Task
    """The task generations are selected on: a carved (or the task's own) validation
    view, or the task itself."""

    @property
    def task(self) -> Task:
        return self.executor.task

    @property
    def serving(self) -> TaskModel:
        return self.executor.serving

    @property
    def reporter(self) -> Reporter:
        return self.executor.reporter

    @property
    def weights_available(self) -> bool:
        """An open-weight task model, and labelled public rows to train on."""
        return self.serving.local is not None and self.task.config.validation is not None
