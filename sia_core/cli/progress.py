"""Progress bars for long steps, drawn with rich."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class _Task:
    def __init__(self, progress: Progress, task_id: int) -> None:
        self.progress = progress
        self.task_id = task_id

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.progress.update(self.task_id, total=total)
        self.progress.update(self.task_id, completed=done)


class RichReporter:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @contextlib.contextmanager
    def phase(self, description: str, total: int | None = None) -> Iterator[_Task]:
        task_id = self.progress.add_task(description, total=total)
        try:
            yield _Task(self.progress, task_id)
        finally:
            self.progress.remove_task(task_id)

    def info(self, message: str) -> None:
        # Messages carry text from outside (an upstream error, an evaluator's note): never
        # read as rich markup, where "[/x]" would raise and "[red]" would restyle.
        self.progress.console.print(message, markup=False, highlight=False)
