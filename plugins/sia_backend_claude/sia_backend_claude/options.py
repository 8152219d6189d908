"""The `--backend-opt KEY=VALUE` options of the claude backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from sia_core.errors import SiaError

DEFAULT_MODEL = "haiku"


@dataclass(frozen=True)
class ClaudeOptions:
    model: str | None = None
    """An alias the Claude Code CLI resolves (haiku, sonnet, opus) or a full model id;
    `--meta-model` wins, and haiku (as in the original SIA) is the default."""
    max_turns: int = 40
    timeout_s: float = 1800.0
    max_retries: int = 6
    """Retries of a failed API call (429, 5xx, timeouts), with the CLI's backoff."""
    request_timeout_s: float = 600.0
    """One API call taking longer than this is abandoned and retried."""
    trial_items: int = 5
    evidence_tokens: int = 6000

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> ClaudeOptions:
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for key, raw in options.items():
            if key not in known:
                raise SiaError(
                    f"backend 'claude' has no option {key!r}; options: {', '.join(known)}"
                )
            kind = {"int": int, "float": float}.get(str(known[key]).split(" ")[0], str)
            try:
                values[key] = kind(raw)
            except ValueError:
                raise SiaError(f"backend option {key}={raw!r} must be a {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]
