"""The openhands backend: an OpenHands SDK agent as the Meta-Agent and the Feedback-Agent,
on any litellm model (a model is required: there is no default provider)."""

from __future__ import annotations

from collections.abc import Mapping

from sia_backend_openhands.options import OpenHandsOptions
from sia_core.api.agents import AgentSession, CodingAgentBackend, SessionSpec


class OpenHandsBackend(CodingAgentBackend):
    name = "openhands"
    read_tool = "read_file (and list_files)"
    write_tool = "write_file"
    trial_tool = "run_sample"
    options: OpenHandsOptions

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> OpenHandsBackend:
        return cls(OpenHandsOptions.parse(cls.name, options))

    def start(self, spec: SessionSpec) -> AgentSession:
        from sia_backend_openhands.openhands_session import OpenHandsSession

        return OpenHandsSession(spec, self.options)
