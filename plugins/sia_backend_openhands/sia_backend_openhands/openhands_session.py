"""One OpenHands conversation in a workspace: litellm model, our file and trial tools.

`send` runs the conversation on a worker thread so the wall-clock cap can pause it.
Provider faults are retried by the SDK's LLM (num_retries, with backoff); when they run
out the conversation errors and the generation fails with the provider's message.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from typing import Any

os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")

from openhands.sdk import LLM, Agent, Conversation  # noqa: E402
from openhands.sdk.event.conversation_error import ConversationErrorEvent  # noqa: E402
from openhands.sdk.tool import Tool  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from sia_backend_openhands.options import OpenHandsOptions  # noqa: E402
from sia_backend_openhands.tools import SESSIONS, TOOLS, SessionTools  # noqa: E402
from sia_core.api.agents import ProviderFailure, SessionLimit, SessionSpec, SessionUsage

LIMIT_CODES = {"MaxIterationsReached", "StuckDetected"}


class OpenHandsSession:
    def __init__(self, spec: SessionSpec, options: OpenHandsOptions) -> None:
        self.spec = spec
        self.usage = SessionUsage(role=spec.role, backend="openhands", model=spec.model)
        self.session_id = uuid.uuid4().hex
        SESSIONS[self.session_id] = SessionTools(
            spec.workspace, spec.trial, spec.metric, spec.trial_items
        )
        key = options.api_key(spec.model)
        llm = LLM(
            model=spec.model,
            base_url=options.api_base,
            api_key=SecretStr(key) if key else None,
            usage_id=f"sia-{spec.role}",
            num_retries=options.max_retries,
            retry_min_wait=int(options.retry_min_wait),
            retry_max_wait=int(options.retry_max_wait),
            timeout=max(1, int(options.request_timeout_s)),
        )
        agent = Agent(
            llm=llm,
            tools=[Tool(name=name, params={"session": self.session_id}) for name in TOOLS],
        )
        self._transcript = spec.transcript.open("a", encoding="utf-8")
        self.conversation = Conversation(
            agent=agent,
            workspace=str(spec.workspace),
            max_iteration_per_run=spec.max_turns,
            callbacks=[self._record],
            visualizer=None,
        )

    def _record(self, event: Any) -> None:
        try:
            self._transcript.write(event.model_dump_json() + "\n")
        except Exception:  # a transcript line is not worth a failed session
            self._transcript.write('{"unserialisable event": true}\n')

    def send(self, prompt: str) -> str:
        self.conversation.send_message(prompt)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self.conversation.run()
            except BaseException as exc:  # re-raised on the caller's thread
                failure.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(self.spec.timeout_s)
        self._account()
        if worker.is_alive():
            self.conversation.pause()
            worker.join(60)
            raise SessionLimit(f"wall-clock cap of {self.spec.timeout_s:g} s reached")
        error = self._last_error()
        if error is not None and error.code in LIMIT_CODES:
            raise SessionLimit(error.detail)
        if failure or error is not None:
            detail = error.detail if error is not None else str(failure[0])
            raise ProviderFailure(f"OpenHands agent failed: {detail}"[:1500])
        return self._final_message()

    def _events(self) -> list[Any]:
        return list(self.conversation.state.events)

    def _last_error(self) -> ConversationErrorEvent | None:
        for event in reversed(self._events()):
            if isinstance(event, ConversationErrorEvent):
                return event
            if type(event).__name__ == "MessageEvent" and getattr(event, "source", "") == "user":
                return None  # errors before the latest prompt belong to an earlier send
        return None

    def _final_message(self) -> str:
        for event in reversed(self._events()):
            action = getattr(event, "action", None)
            if action is not None and type(action).__name__ == "FinishAction":
                return str(action.message)
        return ""

    def _account(self) -> None:
        metrics = self.conversation.conversation_stats.get_combined_metrics()
        tokens = metrics.accumulated_token_usage
        if tokens is None:
            return
        self.usage.input_tokens = int(tokens.prompt_tokens or 0)
        self.usage.output_tokens = int(tokens.completion_tokens or 0)
        self.usage.cache_read_tokens = int(tokens.cache_read_tokens or 0)
        self.usage.cache_write_tokens = int(tokens.cache_write_tokens or 0)
        self.usage.turns = sum(1 for e in self._events() if type(e).__name__ == "ActionEvent")

    def close(self) -> None:
        SESSIONS.pop(self.session_id, None)
        self._transcript.close()
        with contextlib.suppress(Exception):  # already closed after a failure
            self.conversation.close()
