"""Built-in task loader `directory`: a path, or a name found on SIA_TASKS_PATH."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sia_core.api import hookimpl
from sia_core.specs import TaskInfo, TaskLoaderSpec


def _search_path() -> list[Path]:
    raw = os.environ.get("SIA_TASKS_PATH", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def _is_task(path: Path) -> bool:
    return (path / "data" / "public" / "task.md").is_file()


def _resolve(name: str) -> Path | None:
    direct = Path(name).expanduser()
    if direct.is_dir():
        return direct
    for base in _search_path():
        candidate = base / name
        if candidate.is_dir():
            return candidate
    return None


def _list() -> list[TaskInfo]:
    found = []
    for base in _search_path():
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            if _is_task(entry):
                first = (
                    (entry / "data" / "public" / "task.md")
                    .read_text(encoding="utf-8", errors="replace")
                    .strip()
                    .splitlines()
                )
                found.append(
                    TaskInfo(
                        name=entry.name, description=(first[0].lstrip("# ") if first else "")[:80]
                    )
                )
    return found


@hookimpl
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    register(
        TaskLoaderSpec(
            name="directory",
            summary="A task directory in the SIA layout, given as a path or found by name on "
            "SIA_TASKS_PATH (directories separated by ':').",
            list_tasks=_list,
            resolve=_resolve,
        )
    )
