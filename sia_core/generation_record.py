"""The record of one generation, gen_N/generation.json: what was decided, how it ran,
what it scored. The loop fills it, run_dir.index folds it into run.json, the report shows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sia_core.usage import Usage, add_usage


@dataclass(frozen=True)
class ModelCalls:
    """How a generation's (or a split's) task-model calls went."""

    served: int = 0
    failed: int = 0
    reasons: tuple[tuple[str, int, str], ...] = ()
    """(HTTP status, count, first error text), most frequent first."""

    @classmethod
    def summed(cls, usages: Iterable[dict[str, Any]]) -> ModelCalls:
        """From several gateways' usage, summed."""
        total: dict[str, Any] = {}
        for usage in usages:
            add_usage(total, usage)
        return cls.of(total)

    @classmethod
    def of(cls, usage: dict[str, Any]) -> ModelCalls:
        """From a gateway's usage (`Usage.as_dict()`, or several summed)."""
        failures = usage.get("failures") or {}
        reasons = [
            (str(k), int(v.get("count", 0)), str(v.get("first", ""))) for k, v in failures.items()
        ]
        reasons.sort(key=lambda r: -r[1])
        return cls(int(usage.get("calls", 0)), int(usage.get("errors", 0)), tuple(reasons))

    @property
    def mostly_failed(self) -> bool:
        """At least half the calls failed: a score made of them is not the model's."""
        return self.failed > 0 and self.failed >= self.served

    def text(self) -> str | None:
        """ "3 of 10 model calls failed (HTTP 401: ...)", or None when none failed."""
        if not self.failed:
            return None
        line = f"{self.failed} of {self.failed + self.served} model calls failed"
        if self.reasons:
            status, _, first = self.reasons[0]
            why = f"HTTP {status}" + (f": {first}" if first else "")
            more = f"; {len(self.reasons) - 1} other reason(s)" if len(self.reasons) > 1 else ""
            line += f" ({why[:200]}{more})"
        return line


@dataclass
class GenerationRecord:
    number: int
    started: float
    status: str = "failed"
    """"ok" when the selection split scored; "failed" otherwise (see `error`)."""
    score: float | None = None
    """The selection score."""
    test_score: float | None = None
    """The held-out test score, run only for a new incumbent."""
    incumbent: bool = False
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Gateway usage per part: selection, test, rollouts, trials, and with several
    candidates "candidates" (what the candidates not chosen spent)."""
    error: str | None = None
    partial_score: float | None = None
    """What the evaluator made of a failed agent's leftovers: for the record only."""
    test_error: str | None = None
    items: int | None = None
    summary: dict[str, Any] | None = None
    """The evaluator's scalar summary."""
    reward_shape: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    lever: str | None = None
    algorithm: str | None = None
    adapter_gen: int | None = None
    """The generation whose adapter this one is evaluated with (weights lever)."""
    training: dict[str, Any] | None = None
    agent: dict[str, Any] | None = None
    """The selection run's sandbox: exit, time, isolation, dropped outputs."""
    agent_sessions: list[dict[str, Any]] | None = None
    finished: float | None = None
    parent: int | None = None
    """The generation this one was made from."""
    keep: dict[str, Any] | None = None
    """The keep rule's verdict against the incumbent (`KeepVerdict.as_dict()`)."""
    candidates: list[dict[str, Any]] | None = None
    """With --candidates N > 1: each candidate's number, status, score, lever, algorithm,
    tokens and cost; the chosen one's files are this generation's."""
    candidate: int | None = None
    """Which candidate this generation's files are (None with one candidate)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not know (a record written by a newer sia), kept as read."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.extra = {k: v for k, v in data.items() if k not in known}
        return record

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**data.pop("extra"), **data}

    def totals(self) -> Usage:
        """Task-model usage summed over every part of this generation."""
        return Usage.of(self.usage.values())

    def model_calls(self) -> ModelCalls:
        """The task-model calls of every part of this generation, served and failed."""
        return ModelCalls.summed(self.usage.values())

    def add_usage(self, part: str, usage: dict[str, Any]) -> None:
        """Sum one gateway's usage (`Usage.as_dict()`) into this record's `part`."""
        add_usage(self.usage.setdefault(part, {}), usage)
