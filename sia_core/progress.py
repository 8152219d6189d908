"""How the loop reports progress; the CLI supplies a rich implementation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class Phase(Protocol):
    def update(self, done: int, total: int | None = None) -> None: ...


class Reporter(Protocol):
    def phase(
        self, description: str, total: int | None = None
    ) -> contextlib.AbstractContextManager[Phase]: ...

    def info(self, message: str) -> None: ...


class _QuietPhase:
    def update(self, done: int, total: int | None = None) -> None:
        pass


class QuietReporter:
    def __init__(self) -> None:
        self.messages: list[str] = []

    @contextlib.contextmanager
    def phase(self, description: str, total: int | None = None) -> Iterator[Phase]:
        yield _QuietPhase()

    def info(self, message: str) -> None:
        self.messages.append(message)
