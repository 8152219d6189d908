"""For task-loader plugins: where to keep built tasks, how to build them once and
atomically, how to fetch a pinned wheel. Cheap to import."""

from __future__ import annotations

from sia_core.envs import cache_dir
from sia_core.store import atomic_dir
from sia_core.tasks.downloads import download_wheel
from sia_core.tasks.packs import build_once, is_built, lazy_loader, refresh
from sia_core.tasks.task import Task, load_task_dir

__all__ = [
    "Task",
    "atomic_dir",
    "build_once",
    "cache_dir",
    "download_wheel",
    "is_built",
    "lazy_loader",
    "load_task_dir",
    "refresh",
]
