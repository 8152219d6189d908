"""Registers the task `toy-double`: a task directory shipped inside this package."""

from importlib.resources import files
from pathlib import Path

from sia_core.api import TaskInfo, TaskLoaderSpec, hookimpl


def _resolve(name):
    return Path(str(files("sia_tasks_toy") / "task")) if name == "toy-double" else None


@hookimpl
def register_task_loaders(register):
    register(
        TaskLoaderSpec(
            name="toy",
            summary="a third party's task",
            list_tasks=lambda: [TaskInfo("toy-double", "Double each number (toy)")],
            resolve=_resolve,
        )
    )
