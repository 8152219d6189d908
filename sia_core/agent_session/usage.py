"""Tokens and cost of one agent session, priced from litellm's table when the provider
does not report a cost; "unknown" where neither knows the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SessionUsage:
    role: str
    """"meta" or "feedback"."""
    backend: str
    model: str
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reported_cost_usd: float | None = None
    """The cost the agent runtime itself reported (the Claude Code CLI does)."""
    duration_s: float = 0.0
    attempts: list[str] = field(default_factory=list)
    """One line per prompt sent in the session: the first, and any sent back with an error."""

    def add(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> None:
        self.input_tokens += int(input_tokens or 0)
        self.output_tokens += int(output_tokens or 0)
        self.cache_read_tokens += int(cache_read or 0)
        self.cache_write_tokens += int(cache_write or 0)

    def cost(self) -> float | None:
        if self.reported_cost_usd is not None:
            return self.reported_cost_usd
        return price(
            self.model,
            self.input_tokens + self.cache_write_tokens,
            self.output_tokens,
            self.cache_read_tokens,
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        cost = self.cost()
        data["cost_usd"] = round(cost, 6) if cost is not None else "unknown"
        return data


def price(model: str, input_tokens: int, output_tokens: int, cache_read: int = 0) -> float | None:
    """USD for these tokens by litellm's price table, or None if the model is not in it."""
    import litellm

    for name in (model, model.split("/", 1)[-1]):
        info = litellm.model_cost.get(name)
        if not info:
            continue
        per_in = info.get("input_cost_per_token")
        per_out = info.get("output_cost_per_token")
        if per_in is None or per_out is None:
            continue
        per_cache = info.get("cache_read_input_token_cost") or per_in
        return input_tokens * per_in + output_tokens * per_out + cache_read * per_cache
    return None
