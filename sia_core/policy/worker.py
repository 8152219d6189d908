"""The policy's side of a policy host (a rented GPU): the same LocalPolicy and the same
RL trainers as in sia's process, behind methods whose arguments and results are plain
picklable values, so that any host can carry them (Modal's method calls; in tests, an
in-process stand-in that pickles both ways).

Adapters cross as their files ({name: bytes}); a host may also keep them (Modal: in a
Volume) under a key sia names.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sia_core.sandbox.stage import new_stage
from sia_core.weights.rl import RLBatch


def read_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def write_files(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a file name: {name!r}")
        (directory / name).write_bytes(data)


class PolicyWorker:
    def __init__(
        self,
        model: str,
        lora: dict[str, Any],
        seed: int,
        store: Path | None = None,
        exact: bool = False,
    ) -> None:
        import torch

        from sia_core.policy.local import LocalPolicy, lora_settings

        torch.manual_seed(seed)
        self._scratch = new_stage("worker")
        self.store = store
        """Where adapters are kept by key (a Modal Volume's mount), if anywhere."""
        self.policy = LocalPolicy.load(model, None, lora=lora_settings(lora))
        self.policy.exact = exact
        self.policy.seed = seed

    def generate(self, request: dict[str, Any], override: dict[str, Any] | None) -> dict:
        """One chat-completions request, sampled as `LocalPolicy.complete` samples it
        (with the rollout's sampling override when one is in force). Concurrent calls
        (each on its own thread) are batched by the policy."""
        return asdict(self.policy.complete(request, override))

    def use_adapter(self, files: dict[str, bytes] | None) -> None:
        """Serve and train with this adapter from now on (None: a fresh LoRA)."""
        target = None
        if files is not None:
            target = Path(tempfile.mkdtemp(dir=self._scratch))
            write_files(target, files)
        self.policy.use_adapter(target)

    def train(
        self, algorithm: str, trainer: str, batch: RLBatch, config: Any, seed: int
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """One call of the algorithm's trainer ("module:function", importable here) with
        its typed config, exactly as a policy in sia's process trains."""
        return self.policy.train(algorithm, trainer, batch, config, seed)

    def save_adapter(self, key: str) -> dict[str, bytes]:
        """The adapter's files (a standard PEFT directory); kept under `key` in the
        host's store too."""
        target = Path(tempfile.mkdtemp(dir=self._scratch))
        self.policy.save_adapter(target)
        files = read_files(target)
        if self.store is not None:
            kept = self.store / key
            shutil.rmtree(kept, ignore_errors=True)
            write_files(kept, files)
        return files

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
