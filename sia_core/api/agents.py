"""For coding-agent backends (Claude Code, OpenHands, ...): the backend that briefs an
agent session in a workspace, the session contract, usage and the workspace fence."""

from __future__ import annotations

from sia_core.agent_session.backend import AgentOptions, CodingAgentBackend
from sia_core.agent_session.session import AgentSession, ProviderFailure, SessionLimit, SessionSpec
from sia_core.agent_session.usage import SessionUsage
from sia_core.agent_session.workspace import OutsideWorkspace, confine

__all__ = [
    "AgentOptions",
    "AgentSession",
    "CodingAgentBackend",
    "OutsideWorkspace",
    "ProviderFailure",
    "SessionLimit",
    "SessionSpec",
    "SessionUsage",
    "confine",
]
