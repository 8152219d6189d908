"""What a run is wired from: its configuration and directory, the backend, the reward
classifier, and the executor that runs a harness (task, sandbox, task model, gateway
budget). The loop and its steps read these; `sia eval` builds only the executor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sia_core import plugins
from sia_core.backends.contract import Backend
from sia_core.errors import SiaError
from sia_core.execution.executor import Executor
from sia_core.gateway.server import Budget
from sia_core.gateway.serving import TaskModel
from sia_core.loop.run_config import RunConfig, resolve_task
from sia_core.loop.run_dir import RunDir
from sia_core.progress import Reporter
from sia_core.sandbox.bwrap import require_bwrap
from sia_core.specs import RewardClassifierSpec
from sia_core.tasks.task import Task


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
