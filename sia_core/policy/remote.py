"""The task model served and trained by a policy host (sia run --policy-host NAME): what
sia's gateway and weights lever see in place of a LocalPolicy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sia_core.policy.models import ModelReply
from sia_core.policy.worker import read_files, write_files
from sia_core.specs import PolicyConnection
from sia_core.weights.rl import RLBatch


class RemotePolicy:
    def __init__(self, name: str, connection: PolicyConnection, host: str) -> None:
        self.name = name
        self.host = host
        self.connection = connection
        self.adapter: Path | None = None
        self.trained = False
        self.sampling_override: dict[str, Any] | None = None

    def complete(self, request: dict[str, Any]) -> ModelReply:
        reply = self.connection.call("generate", request, self.sampling_override)
        return ModelReply(**reply)

    @contextlib.contextmanager
    def sampling(self, override: dict[str, Any]) -> Iterator[RemotePolicy]:
        previous, self.sampling_override = self.sampling_override, override
        try:
            yield self
        finally:
            self.sampling_override = previous

    def use_adapter(self, adapter: Path | None) -> None:
        files = read_files(adapter) if adapter is not None else None
        self.connection.call("use_adapter", files)
        self.adapter = adapter
        self.trained = False

    def train(
        self, algorithm: str, trainer: str, batch: RLBatch, config: Any, seed: int
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        self.trained = True
        return self.connection.call("train", algorithm, trainer, batch, config, seed)

    def save_adapter(self, path: Path, key: str) -> None:
        """The adapter's files, written as the standard PEFT directory at `path` (the
        host keeps them under `key` too)."""
        write_files(path, self.connection.call("save_adapter", key))

    def close(self) -> None:
        self.connection.close()
