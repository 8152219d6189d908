"""Entry point of sia-tasks-offline: registers the `offline` task loader."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import TaskLoaderSpec, hookimpl
from sia_core.api.tasks import lazy_loader

DESCRIPTIONS = {
    "sentiment": "Short product reviews, many negated: positive or negative (binary rewards)",
    "arithmetic": "Two-digit addition and subtraction, few-shot (sparse rewards for a small model)",
}


@hookimpl
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    register(
        lazy_loader(
            "offline",
            "sentiment and arithmetic: data generated locally from a fixed seed",
            DESCRIPTIONS,
            "sia_tasks_offline.build",
        )
    )
