"""A fake Anthropic Messages API on 127.0.0.1: JSON and SSE streaming, as the Claude Code
CLI and the anthropic SDK use it. Replies come from a script function over the request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from sia_core.testing.fakes.http import FakeProvider

Block = dict[str, Any]
"""{"type": "text", "text": ...} or {"type": "tool_use", "name": ..., "input": {...}}"""
ERROR_TYPES = {429: "rate_limit_error", 529: "overloaded_error", 404: "not_found_error"}


def text_reply(body: dict[str, Any]) -> list[Block]:
    return [{"type": "text", "text": "ok"}]


class FakeAnthropic(FakeProvider):
    cut_body = b'{"id": "msg_cut", "type": "message", "content": [{"type": "te'

    def __init__(
        self,
        reply: Callable[[dict[str, Any]], list[Block]] = text_reply,
        statuses: list[int] | None = None,
        always: int | None = None,
        garbled: int = 0,
        stalled: int = 0,
        stall_s: float = 5.0,
    ) -> None:
        super().__init__(
            statuses=statuses, always=always, garbled=garbled, stalled=stalled, stall_s=stall_s
        )
        self.reply = reply

    def reply_headers(self) -> dict[str, str]:
        return {"request-id": f"req_{uuid.uuid4().hex[:16]}"}

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def route(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> bool:
        path = handler.path.split("?")[0]
        if path.endswith("/count_tokens"):
            self.send_json(handler, 200, {"input_tokens": _count(body)})
            return True
        if not path.endswith("/v1/messages"):
            self.send_json(handler, 404, self.error_body(404, path))
            return True
        return False

    def answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
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
            self.send_json(handler, 200, message)
            return
        self.start_stream(handler)

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
                opening: Block = {"type": "text", "text": ""}
                raw, delta_type, key = block["text"], "text_delta", "text"
            else:
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"]}
                opening["input"] = {}
                raw, delta_type, key = (
                    json.dumps(block["input"]),
                    "input_json_delta",
                    "partial_json",
                )
            event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
            for i in range(0, len(raw), 40):
                delta = {"type": delta_type, key: raw[i : i + 40]}
                event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
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
