"""Task packs: plugins whose tasks are built into sia's cache the first time they are used
(data generated or fetched then), and listed without building anything."""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from sia_core.specs import TaskInfo, TaskLoaderSpec
from sia_core.store import atomic_dir


def is_built(dest: Path) -> bool:
    return (dest / "task.toml").is_file()


def build_once(dest: Path, build: Callable[[Path], None]) -> Path:
    """`dest`, made by `build(tmp)` the first time and renamed into place whole."""
    if not is_built(dest):
        with atomic_dir(dest) as tmp:
            build(tmp)
    return dest


def refresh(own: dict[Path, Path]) -> None:
    """Bring a built task's own files (the plugin's task.toml, task.md, evaluator,
    reference harness: source -> copy in the task) in step with the installed plugin,
    so that upgrading a pack changes a task already built without rebuilding its data."""
    for source, copy in own.items():
        if copy.is_file() and copy.read_bytes() == source.read_bytes():
            continue
        fresh = copy.with_name(f".{copy.name}.refresh")
        shutil.copy2(source, fresh)  # with the plugin file's mode, as the build copied it
        os.replace(fresh, copy)


def lazy_loader(
    name: str, summary: str, descriptions: dict[str, str], builder: str
) -> TaskLoaderSpec:
    """A task loader for the tasks in `descriptions`. `builder` names the module that
    makes them (its `task_dir(name) -> Path` and `is_built(name) -> bool`); it is imported
    only when a task is listed or used, so registering the plugin stays cheap."""

    def resolve(task: str) -> Path | None:
        if task not in descriptions:
            return None
        return importlib.import_module(builder).task_dir(task)

    def list_tasks() -> list[TaskInfo]:
        module = importlib.import_module(builder)
        return [
            TaskInfo(name=n, description=d, available=module.is_built(n))
            for n, d in descriptions.items()
        ]

    return TaskLoaderSpec(name=name, summary=summary, list_tasks=list_tasks, resolve=resolve)
