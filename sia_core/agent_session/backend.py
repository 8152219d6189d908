"""The backend object both coding-agent backends are: options, settings, the two roles.

A subclass names its tools for the prompts and implements `start(spec)`, which opens an
`AgentSession` with its agent runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from sia_core.agent_session import session
from sia_core.backends.contract import BackendCannotAct, Decision, FeedbackContext, MetaContext
from sia_core.errors import SiaError


@dataclass(frozen=True)
class AgentOptions:
    """`--backend-opt KEY=VALUE` options every coding-agent backend takes."""

    model: str | None = None
    """The agent's model, when `--meta-model` is not given."""
    max_turns: int = 40
    timeout_s: float = 1800.0
    max_retries: int = 6
    """Retries of a failed provider call (429, 5xx, timeouts, cut-off replies)."""
    request_timeout_s: float = 600.0
    """One provider call taking longer than this is abandoned and retried."""
    trial_items: int = 5
    evidence_tokens: int = 6000

    @classmethod
    def parse(cls, backend: str, options: Mapping[str, str]) -> Self:
        known = {f.name: str(f.type).split(" ")[0] for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in options.items():
            if key not in known:
                raise SiaError(
                    f"backend {backend!r} has no option {key!r}; options: {', '.join(known)}"
                )
            kind = {"int": int, "float": float}.get(known[key], str)
            try:
                values[key] = kind(raw)
            except ValueError:
                raise SiaError(f"backend option {key}={raw!r} must be a {kind.__name__}") from None
        return cls(**values)


class CodingAgentBackend:
    name: ClassVar[str]
    default_model: ClassVar[str | None] = None
    read_tool: ClassVar[str]
    write_tool: ClassVar[str]
    trial_tool: ClassVar[str]

    def __init__(self, options: AgentOptions) -> None:
        self.options = options

    def start(self, spec: session.SessionSpec) -> session.AgentSession:
        raise NotImplementedError

    def settings(self, meta_model: str | None) -> session.Settings:
        o = self.options
        model = meta_model or o.model or self.default_model
        if not model:
            # Stops the run: no generation can go better without one.
            raise BackendCannotAct(
                f"the {self.name} backend needs a model: --meta-model PROVIDER/NAME (for "
                "example gemini/gemini-2.5-flash) or --backend-opt model=..."
            )
        return session.Settings(
            backend=self.name,
            model=model,
            max_turns=o.max_turns,
            timeout_s=o.timeout_s,
            trial_items=o.trial_items,
            evidence_tokens=o.evidence_tokens,
            read_tool=self.read_tool,
            write_tool=self.write_tool,
            trial_tool=self.trial_tool,
        )

    def initial(self, ctx: MetaContext) -> Decision:
        return session.run_meta(ctx, self.start, self.settings(ctx.meta_model))

    def feedback(self, ctx: FeedbackContext) -> Decision:
        return session.run_feedback(ctx, self.start, self.settings(ctx.meta_model))
