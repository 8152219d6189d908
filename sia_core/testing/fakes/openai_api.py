"""A fake OpenAI chat-completions provider on 127.0.0.1, speaking the real wire format
(JSON and server-sent-event streams). Real SDKs (openai, litellm) talk to it through a
base URL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from sia_core.testing.fakes.http import FakeProvider


def echo_reply(messages: list[dict[str, Any]]) -> str:
    last = messages[-1].get("content") if messages else ""
    return f"echo: {last}"


class FakeOpenAI(FakeProvider):
    path_prefix = "/v1"
    cut_body = b'{"id": "chatcmpl-cut", "object": "chat.completion", "choi'

    def __init__(
        self,
        reply: Callable[[list[dict[str, Any]]], str] = echo_reply,
        latency_s: float = 0.0,
        statuses: list[int] | None = None,
        agent: Callable[[dict[str, Any]], str | dict[str, Any]] | None = None,
        always: int | None = None,
        garbled: int = 0,
        stalled: int = 0,
        stall_s: float = 5.0,
    ) -> None:
        super().__init__(
            statuses=statuses,
            always=always,
            garbled=garbled,
            stalled=stalled,
            stall_s=stall_s,
            latency_s=latency_s,
        )
        self.reply = reply
        self.agent = agent
        """Sees the whole request; returns text or {"content", "tool_calls": [{"name",
        "arguments"}]}: a scripted tool-calling model. Takes precedence over `reply`."""

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": "fake", "code": str(status)}}

    def answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        answer = self.agent(body) if self.agent else self.reply(body["messages"])
        if isinstance(answer, str):
            answer = {"content": answer}
        text = answer.get("content") or ""
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
            }
            for c in answer.get("tool_calls") or []
        ]
        finish = "tool_calls" if calls else "stop"
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = calls
        prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion = len(text.split()) + sum(len(c["function"]["arguments"].split()) for c in calls)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        base = {"id": ident, "created": created, "model": body.get("model")}
        if not body.get("stream"):
            choice = {"index": 0, "finish_reason": finish, "message": message}
            completion_object = {**base, "object": "chat.completion", "usage": usage}
            self.send_json(handler, 200, {**completion_object, "choices": [choice]})
            return
        self.start_stream(handler)
        base["object"] = "chat.completion.chunk"
        pieces: list[dict[str, Any]] = [{"role": "assistant", "content": ""}] + [
            {"content": word + " "} for word in text.split()
        ]
        pieces += [{"tool_calls": [{"index": i, **call}]} for i, call in enumerate(calls)]
        for delta in pieces:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        handler.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            handler.wfile.write(
                f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
            )
        handler.wfile.write(b"data: [DONE]\n\n")


def serve_in_subprocess(latency_s: float) -> tuple[subprocess.Popen[str], str]:
    """Start a fake provider in its own process (so it takes no CPU from the caller's
    interpreter, as a remote provider would not); returns the process and its URL."""
    code = (
        "import sys\n"
        "from sia_core.testing.fakes import FakeOpenAI\n"
        f"with FakeOpenAI(latency_s={latency_s!r}) as fake:\n"
        "    print(fake.url, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()
