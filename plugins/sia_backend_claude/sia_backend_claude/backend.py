"""The claude backend: Claude Code as the Meta-Agent and the Feedback-Agent."""

from __future__ import annotations

import os
from collections.abc import Mapping

from sia_backend_claude.options import DEFAULT_MODEL, ClaudeOptions
from sia_core.agent_session import session
from sia_core.backend_api import Decision, FeedbackContext, MetaContext
from sia_core.errors import SiaError


class ClaudeBackend:
    name = "claude"

    def __init__(self, options: ClaudeOptions) -> None:
        self.options = options

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> ClaudeBackend:
        parsed = ClaudeOptions.parse(options)
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise SiaError(
                "the claude backend needs ANTHROPIC_API_KEY in the environment "
                "(and ANTHROPIC_BASE_URL for an endpoint other than Anthropic's)"
            )
        return cls(parsed)

    def _settings(self, meta_model: str | None) -> session.Settings:
        o = self.options
        return session.Settings(
            backend=self.name,
            model=meta_model or o.model or DEFAULT_MODEL,
            max_turns=o.max_turns,
            timeout_s=o.timeout_s,
            trial_items=o.trial_items,
            evidence_tokens=o.evidence_tokens,
            read_tool="Read",
            write_tool="Write (or Edit)",
            trial_tool="mcp__sia__run_sample",
        )

    def _start(self, spec: session.SessionSpec) -> session.AgentSession:
        from sia_backend_claude.claude_session import ClaudeSession

        return ClaudeSession(spec, self.options.max_retries, self.options.request_timeout_s)

    def initial(self, ctx: MetaContext) -> Decision:
        return session.run_meta(ctx, self._start, self._settings(ctx.meta_model))

    def feedback(self, ctx: FeedbackContext) -> Decision:
        return session.run_feedback(ctx, self._start, self._settings(ctx.meta_model))
