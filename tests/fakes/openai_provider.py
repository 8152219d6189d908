"""A fake OpenAI chat-completions provider on 127.0.0.1, speaking the real wire format
(JSON and server-sent-event streams), for tests and benchmarks. Real SDKs (openai,
litellm) talk to it through a base URL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def serve_in_subprocess(latency_s: float) -> tuple[subprocess.Popen[str], str]:
    """Start a fake provider in its own process (so it takes no CPU from the caller's
    interpreter, as a remote provider would not); returns the process and its URL."""
    code = (
        "import sys, time\n"
        "from tests.fakes.openai_provider import FakeOpenAI\n"
        f"with FakeOpenAI(latency_s={latency_s!r}) as fake:\n"
        "    print(fake.url, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def echo_reply(messages: list[dict[str, Any]]) -> str:
    last = messages[-1].get("content") if messages else ""
    return f"echo: {last}"


class FakeOpenAI:
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
        self.reply = reply
        self.garbled = garbled
        """Answer this many requests with a 200 whose JSON body is cut off."""
        self.stalled = stalled
        """Hold this many requests for `stall_s` seconds before answering."""
        self.stall_s = stall_s
        self.agent = agent
        """Sees the whole request; returns text or {"content", "tool_calls": [{"name",
        "arguments"}]}: a scripted tool-calling model. Takes precedence over `reply`."""
        self.always = always
        """Answer every request with this HTTP status (a provider that is down)."""
        self.latency_s = latency_s
        self.statuses = list(statuses or [])
        """HTTP statuses to answer with before answering normally (e.g. [429])."""
        self.error_message: str | None = None
        """The message of error answers (a provider that quotes the key it was sent)."""
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake._serve(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _serve(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            status = self.always or (self.statuses.pop(0) if self.statuses else 200)
            garble = status == 200 and self.garbled > 0
            if garble:
                self.garbled -= 1
            stall = self.stalled > 0
            if stall:
                self.stalled -= 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            if stall:
                time.sleep(self.stall_s)
            if garble:
                data = b'{"id": "chatcmpl-cut", "object": "chat.completion", "choi'
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)
                return
            if status != 200:
                self._send(
                    handler,
                    status,
                    {
                        "error": {
                            "message": self.error_message or f"fake status {status}",
                            "type": "fake",
                            "code": str(status),
                        }
                    },
                )
                return
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
            completion = len(text.split()) + sum(
                len(c["function"]["arguments"].split()) for c in calls
            )
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
            if not body.get("stream"):
                self._send(
                    handler,
                    200,
                    {
                        "id": ident,
                        "object": "chat.completion",
                        "created": created,
                        "model": body.get("model"),
                        "usage": usage,
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": finish,
                                "message": message,
                            }
                        ],
                    },
                )
                return
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Connection", "close")
            handler.end_headers()
            base = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model"),
            }
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
            handler.close_connection = True
        finally:
            with self._lock:
                self.in_flight -= 1
