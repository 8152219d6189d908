"""One Claude Code conversation in a workspace, driven through the Claude Agent SDK.

The SDK is async; the engine is not. Each session runs its client in a blocking portal
(an event loop on its own thread), so `send` can be called repeatedly on one
conversation. File tools are the CLI's own (Read, Write, Edit, Glob, Grep), held to the
workspace by a PreToolUse hook; `run_sample` is an in-process MCP tool that calls the
engine's trial runner (sandbox + gateway).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections import deque
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookMatcher,
    ResultMessage,
    TextBlock,
    create_sdk_mcp_server,
    tool,
)

from sia_core.api.agents import (
    OutsideWorkspace,
    ProviderFailure,
    SessionLimit,
    SessionSpec,
    SessionUsage,
    confine,
)

FILE_TOOLS = ["Read", "Write", "Edit", "Glob", "Grep"]
TRIAL_TOOL = "mcp__sia__run_sample"
PATH_KEYS = ("file_path", "path", "notebook_path")
GLOB_KEYS = {"Glob": ("pattern",), "Grep": ("glob",)}
# The CLI must talk to the model provider and nothing else.
QUIET = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}
TRIAL_SCHEMA = {
    "type": "object",
    "properties": {
        "items": {"type": "integer", "description": "how many items (at most 20)"},
        "file": {"type": "string", "description": "harness file; default target_agent.py"},
    },
}


def _plain(message: Any) -> dict[str, Any]:
    data = (
        dataclasses.asdict(message) if dataclasses.is_dataclass(message) else {"repr": str(message)}
    )
    return {"type": type(message).__name__, **data}


class ClaudeSession:
    def __init__(self, spec: SessionSpec, max_retries: int, request_timeout_s: float) -> None:
        self.spec = spec
        self.usage = SessionUsage(role=spec.role, backend="claude", model=spec.model)
        self._stderr: deque[str] = deque(maxlen=40)
        self._transcript = spec.transcript.open("a", encoding="utf-8")
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._client = ClaudeSDKClient(self._options(max_retries, request_timeout_s))
        try:
            self._portal.call(self._client.connect)
        except Exception as exc:
            self._shutdown()
            raise ProviderFailure(
                f"could not start Claude Code: {exc}{self._stderr_tail()}"
            ) from None

    def _options(self, max_retries: int, request_timeout_s: float) -> ClaudeAgentOptions:
        spec = self.spec

        def deny(reason: str) -> dict[str, Any]:
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason,
                }
            }

        async def guard(data: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
            arguments = data.get("tool_input") or {}
            for key in PATH_KEYS:
                if isinstance(arguments.get(key), str):
                    try:
                        confine(spec.workspace, arguments[key])
                    except OutsideWorkspace as exc:
                        return deny(str(exc))
            # A file pattern is a path too: absolute or climbing ones would list outside.
            for key in GLOB_KEYS.get(str(data.get("tool_name")), ()):
                value = arguments.get(key)
                if isinstance(value, str) and (value.startswith(("/", "~")) or ".." in value):
                    return deny(f"{key} {value!r} leaves the workspace; use a relative pattern")
            return {}

        @tool(
            "run_sample",
            "Run a harness (default target_agent.py in the working directory) on a few "
            "items through the engine's sandbox and model gateway. Reports whether it ran, "
            "the files it wrote, its score on labelled training items when the task has "
            "them, and the end of its output.",
            TRIAL_SCHEMA,
        )
        async def run_sample(args: dict[str, Any]) -> dict[str, Any]:
            return await self._trial(args)

        env = {
            **QUIET,
            "CLAUDE_CODE_MAX_RETRIES": str(max_retries),
            "API_TIMEOUT_MS": str(int(request_timeout_s * 1000)),
            "ANTHROPIC_API_KEY": os.environ.get("ANTHROPIC_API_KEY", ""),
        }
        if os.environ.get("ANTHROPIC_BASE_URL"):
            env["ANTHROPIC_BASE_URL"] = os.environ["ANTHROPIC_BASE_URL"]
        return ClaudeAgentOptions(
            cwd=str(spec.workspace),
            model=spec.model,
            max_turns=spec.max_turns,
            tools=FILE_TOOLS,
            allowed_tools=[*FILE_TOOLS, TRIAL_TOOL],
            permission_mode="acceptEdits",
            mcp_servers={"sia": create_sdk_mcp_server("sia", tools=[run_sample])},
            hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[guard])]},
            setting_sources=[],
            env=env,
            stderr=self._stderr.append,
        )

    async def _trial(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.spec.trial is None:
            text = "run_sample is not available in this run"
        else:
            try:
                path = confine(self.spec.workspace, str(args.get("file") or "target_agent.py"))
                if not path.is_file():
                    raise OutsideWorkspace(f"{path.name} does not exist yet: write it first")
                items = int(args.get("items") or self.spec.trial_items)
                report = await anyio.to_thread.run_sync(self.spec.trial, path, items)
                text = report.as_text(self.spec.metric)
            except (OutsideWorkspace, ValueError) as exc:
                return {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
        return {"content": [{"type": "text", "text": text}]}

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line.strip()]
        return f" (Claude Code: {' | '.join(lines[-3:])})" if lines else ""

    def send(self, prompt: str) -> str:
        return self._portal.call(self._exchange, prompt)

    async def _exchange(self, prompt: str) -> str:
        last_text, result, api_error = "", None, None
        with anyio.move_on_after(self.spec.timeout_s) as scope:
            await self._client.query(prompt)
            async for message in self._client.receive_response():
                self._transcript.write(json.dumps(_plain(message), default=str) + "\n")
                if isinstance(message, AssistantMessage):
                    self.usage.model = message.model or self.usage.model  # alias resolved
                    if message.error:
                        api_error = message.error
                    texts = [b.text for b in message.content if isinstance(b, TextBlock)]
                    if texts:
                        last_text = "\n".join(texts)
                elif isinstance(message, ResultMessage):
                    result = message
        self._transcript.flush()
        if scope.cancelled_caught:
            with anyio.move_on_after(10):
                await self._client.interrupt()
            raise SessionLimit(f"wall-clock cap of {self.spec.timeout_s:g} s reached")
        if result is None:
            raise ProviderFailure(f"Claude Code ended without a result{self._stderr_tail()}")
        self._account(result)
        if result.subtype == "error_max_turns":
            raise SessionLimit(f"turn cap of {self.spec.max_turns} reached")
        if result.is_error:
            detail = "; ".join(result.errors or []) or result.result or api_error or result.subtype
            status = f"HTTP {result.api_error_status}: " if result.api_error_status else ""
            raise ProviderFailure(f"Claude Code failed: {status}{detail}{self._stderr_tail()}")
        return result.result or last_text

    def _account(self, result: ResultMessage) -> None:
        usage = result.usage or {}
        self.usage.turns += result.num_turns
        self.usage.add(
            usage.get("input_tokens", 0),
            usage.get("output_tokens", 0),
            usage.get("cache_read_input_tokens", 0),
            usage.get("cache_creation_input_tokens", 0),
        )
        if result.total_cost_usd is not None:
            self.usage.reported_cost_usd = (self.usage.reported_cost_usd or 0.0) + float(
                result.total_cost_usd
            )

    def _shutdown(self) -> None:
        self._transcript.close()
        self._portal_cm.__exit__(None, None, None)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the CLI may already be gone after a failure
            self._portal.call(self._client.disconnect)
        self._shutdown()
