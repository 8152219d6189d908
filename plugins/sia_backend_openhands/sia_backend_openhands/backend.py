"""The openhands backend: an OpenHands SDK agent as the Meta-Agent and the Feedback-Agent."""

from __future__ import annotations

from collections.abc import Mapping

from sia_backend_openhands.options import OpenHandsOptions
from sia_core.agent_session import session
from sia_core.backend_api import BackendCannotAct, Decision, FeedbackContext, MetaContext


class OpenHandsBackend:
    name = "openhands"

    def __init__(self, options: OpenHandsOptions) -> None:
        self.options = options

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> OpenHandsBackend:
        return cls(OpenHandsOptions.parse(options))

    def _settings(self, meta_model: str | None) -> session.Settings:
        o = self.options
        model = meta_model or o.model
        if not model:
            # Stops the run: no generation can go better without one.
            raise BackendCannotAct(
                "the openhands backend needs a model: --meta-model PROVIDER/NAME (for example "
                "gemini/gemini-2.5-flash) or --backend-opt model=..."
            )
        return session.Settings(
            backend=self.name,
            model=model,
            max_turns=o.max_turns,
            timeout_s=o.timeout_s,
            trial_items=o.trial_items,
            evidence_tokens=o.evidence_tokens,
            read_tool="read_file (and list_files)",
            write_tool="write_file",
            trial_tool="run_sample",
        )

    def _start(self, spec: session.SessionSpec) -> session.AgentSession:
        from sia_backend_openhands.openhands_session import OpenHandsSession

        return OpenHandsSession(spec, self.options)

    def initial(self, ctx: MetaContext) -> Decision:
        return session.run_meta(ctx, self._start, self._settings(ctx.meta_model))

    def feedback(self, ctx: FeedbackContext) -> Decision:
        return session.run_feedback(ctx, self._start, self._settings(ctx.meta_model))
