"""The weights lever: rollouts of the current harness become an RL batch; an algorithm
plugin trains the policy's LoRA adapter on it; the adapter is saved with the generation.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sia_core.errors import SiaError
from sia_core.evaluation import Evaluation
from sia_core.rl import Group, PolicyHandle, RLBatch, Sample
from sia_core.specs import RLAlgorithmSpec
from sia_core.store import atomic_write_json
from sia_core.trajectories import read_calls


@dataclass(frozen=True)
class RolloutPlan:
    """How much to sample before training; the rest of a decision's hyperparameters go
    to the algorithm's own config."""

    k: int = 8
    """Runs of the harness per training item (the group size)."""
    items: int = 32
    """Training items drawn per round."""
    rounds: int = 2
    """Rollout-then-train rounds in one generation."""
    temperature: float = 1.0
    """Sampling temperature imposed on every call during rollouts."""

    @classmethod
    def split(cls, hyperparameters: dict[str, Any]) -> tuple[RolloutPlan, dict[str, Any]]:
        mine = {f.name for f in fields(cls)}
        plan = cls(**{k: v for k, v in hyperparameters.items() if k in mine})
        if plan.k < 2 or plan.items < 1 or plan.rounds < 1 or plan.temperature <= 0:
            raise SiaError(f"rollout settings out of range: {plan}")
        return plan, {k: v for k, v in hyperparameters.items() if k not in mine}


def build_batch(runs: list[tuple[Path, Evaluation]]) -> RLBatch:
    """Group every logged call of every run by item, with that run's reward for the item.

    Calls without an item id or without token data (a harness that bypassed the tagging,
    or a model that returned none) cannot be credited and are left out.
    """
    groups: dict[str, list[Sample]] = {}
    for run, (calls_path, evaluation) in enumerate(runs):
        rewards = {item.id: item.reward for item in evaluation.items}
        for call in read_calls(calls_path):
            extra = call.get("extra") or {}
            item = call.get("item_id")
            if call.get("status") != "ok" or item not in rewards or not extra.get("completion_ids"):
                continue
            groups.setdefault(item, []).append(
                Sample(
                    prompt_ids=extra["prompt_ids"],
                    completion_ids=extra["completion_ids"],
                    logprobs=extra["logprobs"],
                    reward=rewards[item],
                    run=run,
                    temperature=extra.get("temperature", 1.0),
                )
            )
    return RLBatch([Group(item_id=k, samples=v) for k, v in sorted(groups.items())])


def load_trainer(spec: RLAlgorithmSpec) -> Any:
    module, _, function = spec.trainer.partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise SiaError(
            f"RL algorithm {spec.name!r}: cannot load trainer {spec.trainer!r} ({exc})"
        ) from None


def train_adapter(
    spec: RLAlgorithmSpec, batch: RLBatch, policy: Any, config: dict[str, Any], seed: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One call of the algorithm's trainer on the policy, in place: its metrics, and the
    files it wants saved next to the adapter."""
    trainer = load_trainer(spec)
    handle = PolicyHandle(
        model=policy.model,
        tokenizer=policy.tokenizer,
        learning_rate=policy.lora.learning_rate,
        seed=seed,
        previous_adapter=policy.adapter,
    )
    started = time.monotonic()
    with policy.lock:
        try:
            result = trainer(batch, handle, dict(config))
        except ValueError as exc:  # a config the algorithm refuses
            raise SiaError(f"RL algorithm {spec.name!r}: {exc}") from None
    metrics = dict(result.metrics)
    metrics["seconds"] = round(time.monotonic() - started, 2)
    return metrics, result.extra_files


def save_adapter(
    policy: Any, dest: Path, record: dict[str, Any], extra_files: dict[str, bytes]
) -> None:
    policy.save_adapter(dest)
    for name, data in extra_files.items():
        (dest / name).write_bytes(data)
    atomic_write_json(dest / "training.json", record)


def describe(batch: RLBatch) -> dict[str, Any]:
    return {
        "items": len(batch.groups),
        "samples": len(batch.samples),
        "mean_reward": round(sum(batch.rewards) / max(len(batch.rewards), 1), 4),
    }
