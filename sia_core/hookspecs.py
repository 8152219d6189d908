"""Hook markers and specifications for sia plugins (pluggy project "sia").

Every registering hook receives a `register` callback instead of returning values, so
the core can check each name, refuse duplicates naming both plugins, and record which
plugin registered what. The contracts are also documented in docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from sia_core.specs import (
        BackendSpec,
        PolicyHostSpec,
        RewardClassifierSpec,
        RLAlgorithmSpec,
        SandboxSpec,
        TaskLoaderSpec,
    )

hookspec = pluggy.HookspecMarker("sia")
hookimpl = pluggy.HookimplMarker("sia")


@hookspec
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register agent backends that play the Meta-Agent and the Feedback-Agent.

    Call `register(BackendSpec(...))` once per backend. The name must be unique across
    all installed plugins and match `[a-z][a-z0-9_-]*`. The factory is called only when
    a run selects the backend; import heavy SDKs inside it, never at module level.
    """


@hookspec
def register_sandboxes(register: Callable[[SandboxSpec], None]) -> None:
    """Register sandboxes in which task-agent code runs.

    Call `register(SandboxSpec(...))` once per sandbox. A sandbox must run the agent with
    no provider keys in its environment, enforce the job's wall-clock limit, and report
    what it enforced in `SandboxResult.isolation`.
    """


@hookspec
def register_policy_hosts(register: Callable[[PolicyHostSpec], None]) -> None:
    """Register places where the open-weight task model is served and trained.

    Call `register(PolicyHostSpec(...))` once per host. Its factory starts a
    `sia_core.policy.worker.PolicyWorker` there (the same policy and RL trainers as in
    sia's process) and returns a connection whose `call(method, *args)` runs the worker's
    method; sia serves the gateway's calls and trains through it.
    """


@hookspec
def register_rl_algorithms(register: Callable[[RLAlgorithmSpec], None]) -> None:
    """Register RL algorithms for the weights lever.

    Call `register(RLAlgorithmSpec(info=AlgorithmInfo(...), trainer="pkg.mod:train"))`.
    `info` describes the algorithm (summary, reward shapes it suits, whether it needs a
    value model); the trainer module is imported only when a generation trains with it.
    """


@hookspec
def register_reward_classifiers(register: Callable[[RewardClassifierSpec], None]) -> None:
    """Register reward-shape classifiers.

    Call `register(RewardClassifierSpec(...))`. `classify(rewards, algorithms)` must
    return a ShapeReport: a label, the statistics behind it, and the given algorithms
    ranked best first for that shape. It must not raise on empty or constant rewards.
    """


@hookspec
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    """Register ways to resolve `--task NAME` to a task directory.

    Call `register(TaskLoaderSpec(...))`. `resolve(name)` returns a directory in the SIA
    layout, or None when the name is not the loader's; `list_tasks()` lists what
    `sia tasks` shows. Neither may download anything unless the user asked for the task.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the `sia` command line.

    Add commands with `@cli.command()` or `cli.add_command(...)`. Keep imports inside
    the command body so that `sia --help` stays fast.
    """
