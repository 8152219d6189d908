"""Training the policy's adapter with an algorithm plugin's trainer, where the policy
lives: in sia's process or in a policy host's worker. Below the loop and the weights
lever on purpose: it imports only the RL contract, so a policy (local or remote) can
train without importing anything that drives a run."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from sia_core.errors import SiaError
from sia_core.weights.rl import PolicyHandle, RLBatch, TrainResult

Trainer = Callable[[RLBatch, PolicyHandle, Any], TrainResult]


class Trainable(Protocol):
    """What a trainer needs of a policy held in this process (LocalPolicy)."""

    model: Any
    tokenizer: Any
    lora: Any
    """Its LoRA settings; `lora.learning_rate` is the run's rate."""
    adapter: Any
    trained: bool
    lock: Any


def load_trainer(algorithm: str, trainer: str) -> Trainer:
    """The trainer function named "package.module:function", imported now."""
    module, _, function = trainer.partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise SiaError(
            f"RL algorithm {algorithm!r}: cannot load trainer {trainer!r} ({exc})"
        ) from None


def train_here(
    policy: Trainable, algorithm: str, trainer: str, batch: RLBatch, config: Any, seed: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One call of the trainer on `policy`, in place, with the algorithm's typed config
    (None: it takes none): its metrics (with the seconds it took) and the files it wants
    saved next to the adapter."""
    train = load_trainer(algorithm, trainer)
    handle = PolicyHandle(
        model=policy.model,
        tokenizer=policy.tokenizer,
        learning_rate=policy.lora.learning_rate,
        seed=seed,
        previous_adapter=policy.adapter,
    )
    started = time.monotonic()
    with policy.lock:
        policy.trained = True
        try:
            result = train(batch, handle, config)
        except ValueError as exc:  # a config the algorithm refuses
            raise SiaError(f"RL algorithm {algorithm!r}: {exc}") from None
    metrics = dict(result.metrics)
    metrics["seconds"] = round(time.monotonic() - started, 2)
    return metrics, result.extra_files
