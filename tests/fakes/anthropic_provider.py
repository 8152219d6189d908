"""A fake Anthropic Messages API on 127.0.0.1: JSON and SSE streaming, as the Claude Code
CLI and the anthropic SDK use it. Replies come from a script function over the request."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Block = dict[str, Any]
"""{"type": "text", "text": ...} or {"type": "tool_use", "name": ..., "input": {...}}"""


def text_reply(body: dict[str, Any]) -> list[Block]:
    return [{"type": "text", "text": "ok"}]


class FakeAnthropic:
    def __init__(
        self,
        reply: Callable[[dict[str, Any]], list[Block]] = text_reply,
        statuses: list[int] | None = None,
        always: int | None = None,
        garbled: int = 0,
        stalled: int = 0,
        stall_s: float = 5.0,
    ) -> None:
        self.reply = reply
        self.statuses = list(statuses or [])
        """HTTP statuses to answer /v1/messages with before answering normally."""
        self.always = always
        """Answer every /v1/messages request with this status (a provider that is down)."""
        self.stalled = stalled
        """Hold this many /v1/messages requests for `stall_s` seconds before answering."""
        self.stall_s = stall_s
        self.garbled = garbled
        """Answer this many /v1/messages requests with a 200 whose body is cut off."""
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.paths.append("GET " + self.path)
                fake._send(
                    self,
                    404,
                    {"type": "error", "error": {"type": "not_found_error", "message": "no"}},
                )

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.paths.append("POST " + self.path)
                fake._serve(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeAnthropic:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("request-id", f"req_{uuid.uuid4().hex[:16]}")
        handler.end_headers()
        handler.wfile.write(data)

    def _serve(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        path = handler.path.split("?")[0]
        if path.endswith("/count_tokens"):
            self._send(handler, 200, {"input_tokens": _count(body)})
            return
        if not path.endswith("/v1/messages"):
            self._send(
                handler,
                404,
                {"type": "error", "error": {"type": "not_found_error", "message": path}},
            )
            return
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(handler.headers))
            status = self.always or (self.statuses.pop(0) if self.statuses else 200)
            garble = status == 200 and self.garbled > 0
            if garble:
                self.garbled -= 1
            stall = self.stalled > 0
            if stall:
                self.stalled -= 1
        if stall:
            time.sleep(self.stall_s)
        if garble:
            data = b'{"id": "msg_cut", "type": "message", "content": [{"type": "te'
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        if status != 200:
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            self._send(
                handler,
                status,
                {"type": "error", "error": {"type": kind, "message": f"fake {status}"}},
            )
            return
        blocks = [dict(b) for b in self.reply(body)]
        for block in blocks:
            if block["type"] == "tool_use":
                block.setdefault("id", f"toolu_{uuid.uuid4().hex[:20]}")
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        usage = {
            "input_tokens": _count(body),
            "output_tokens": sum(len(json.dumps(b)) // 4 for b in blocks),
        }
        message = {
            "id": f"msg_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude"),
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            self._send(handler, 200, message)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()

        def event(name: str, data: dict[str, Any]) -> None:
            handler.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            handler.wfile.flush()

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
        }
        event("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                text = block["text"]
                for i in range(0, len(text), 40):
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": text[i : i + 40]},
                        },
                    )
            else:
                event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                raw = json.dumps(block["input"])
                for i in range(0, len(raw), 40):
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": raw[i : i + 40]},
                        },
                    )
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        event("message_stop", {"type": "message_stop"})
        handler.close_connection = True


def _count(body: dict[str, Any]) -> int:
    return max(1, len(json.dumps(body.get("messages", []))) // 4)


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks the client has sent so far, oldest first."""
    found = []
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            found += [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return found


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
