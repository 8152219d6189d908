"""Task-model usage: the one type the whole core counts calls, tokens and cost with.

A gateway fills a `Usage` as calls pass; what it hands on is `Usage.as_dict()`, and sums
of those (per generation part, per run) stay dicts folded with `add_usage`, because they
are stored as they are in generation.json. `Usage.of` reads such a dict back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

COUNTERS = (
    "calls",
    "refused",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "calls_without_price",
)


@dataclass
class Usage:
    calls: int = 0
    refused: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls_without_price: int = 0
    items: set[str] = field(default_factory=set)
    unknown_items: set[str] = field(default_factory=set)
    """Item ids not in the split (a gateway keeps a bounded number: agent-written)."""
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Failed calls by HTTP status: {"401": {"count": 3, "first": "the first error"}}
    (scrubbed of sia's secrets); `errors` is their total."""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def failed(self, status: int, message: str) -> None:
        reason = self.failures.setdefault(str(status), {"count": 0, "first": message[:300]})
        reason["count"] += 1

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = len(self.items)
        data["unknown_items"] = len(self.unknown_items)
        data["cost_usd"] = round(self.cost_usd, 6)
        return data

    @classmethod
    def of(cls, usages: Iterable[dict[str, Any]]) -> Usage:
        """The counters of several stored usages (`as_dict()` forms, or sums of them),
        added up; item ids are not kept in a stored usage, so none come back."""
        total: dict[str, Any] = {}
        for usage in usages:
            add_usage(total, usage)
        return cls(
            **{k: total.get(k, 0) for k in COUNTERS}, failures=dict(total.get("failures") or {})
        )


def add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Sum one gateway's usage (`Usage.as_dict()`) into a running total: numbers add,
    tables add key by key, and a text (a first error) keeps the first one seen."""
    for key, value in usage.items():
        if isinstance(value, dict):
            add_usage(total.setdefault(key, {}), value)
        elif isinstance(value, str):
            total.setdefault(key, value)
        else:
            total[key] = total.get(key, 0) + value
