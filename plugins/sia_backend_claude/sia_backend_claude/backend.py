"""The claude backend: Claude Code as the Meta-Agent and the Feedback-Agent.

Options (`--backend-opt`) are sia_core's AgentOptions; `model` takes haiku (the default,
as in the original SIA), sonnet, opus or a full model id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sia_core.api import SiaError
from sia_core.api.agents import AgentOptions, AgentSession, CodingAgentBackend, SessionSpec


class ClaudeBackend(CodingAgentBackend):
    name = "claude"
    default_model = "haiku"
    read_tool = "Read"
    write_tool = "Write (or Edit)"
    trial_tool = "mcp__sia__run_sample"

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> ClaudeBackend:
        parsed = AgentOptions.parse(cls.name, options)
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise SiaError(
                "the claude backend needs ANTHROPIC_API_KEY in the environment "
                "(and ANTHROPIC_BASE_URL for an endpoint other than Anthropic's)"
            )
        return cls(parsed)

    def start(self, spec: SessionSpec) -> AgentSession:
        from sia_backend_claude.claude_session import ClaudeSession

        return ClaudeSession(spec, self.options.max_retries, self.options.request_timeout_s)
