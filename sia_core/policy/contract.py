"""What the gateway and the weights lever ask of the open-weight task model, wherever it
lives: LocalPolicy in sia's process, RemotePolicy on a policy host. Both serve, switch
adapters, train and save through these same methods."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from sia_core.weights.rl import RLBatch


class Policy(Protocol):
    name: str
    adapter: Path | None
    """The adapter being served (None: a fresh LoRA)."""
    trained: bool
    """True once training changed the weights since `adapter` was loaded."""

    def sampling(self, override: dict[str, Any]) -> AbstractContextManager[Any]:
        """Within it, every call samples with `override` (a rollout's temperature)."""
        ...

    def use_adapter(self, adapter: Path | None) -> None: ...

    def train(
        self, algorithm: str, trainer: str, batch: RLBatch, config: Any, seed: int
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """One call of the trainer ("module:function") with the algorithm's typed config
        (None: it takes none), in place: its metrics and the extra files to keep."""
        ...

    def save_adapter(self, path: Path, key: str | None = None) -> None:
        """The adapter as a PEFT directory at `path`; a host keeps it under `key` too."""
        ...

    def close(self) -> None: ...
