"""Entry point of sia-tasks-offline: registers the `offline` task loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sia_core.hookspecs import hookimpl
from sia_core.specs import TaskInfo, TaskLoaderSpec

DESCRIPTIONS = {
    "sentiment": "Short product reviews, many negated: positive or negative (binary rewards)",
    "arithmetic": "Two-digit addition and subtraction, few-shot (sparse rewards for a small model)",
}


def _resolve(name: str) -> Path | None:
    if name not in DESCRIPTIONS:
        return None
    from sia_tasks_offline.build import task_dir

    return task_dir(name)


def _list() -> list[TaskInfo]:
    from sia_tasks_offline.build import is_built

    return [TaskInfo(name=n, description=d, available=is_built(n)) for n, d in DESCRIPTIONS.items()]


@hookimpl
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    register(
        TaskLoaderSpec(
            name="offline",
            summary="sentiment and arithmetic: data generated locally from a fixed seed",
            list_tasks=_list,
            resolve=_resolve,
        )
    )
