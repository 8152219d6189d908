"""The model gateway: an OpenAI-compatible server on loopback for one evaluation.

The task agent never holds a provider key. It talks to this server with a per-run
token; the server forwards to the task model, enforces a concurrency cap and a token
and cost budget, and appends every call, tagged with its item id, to calls.jsonl.
Item ids come from the `X-SIA-Item` header, `metadata.item_id` in the body, or `user`.
Requests are held to an allow-list of fields (sia_core.gateway_policy); a call is admitted
only if its worst case fits what is left of the budget, counting the calls in flight.
"""

from __future__ import annotations

import json
import secrets
import socketserver
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sia_core.gateway_policy import (
    DEFAULT_COMPLETION_CAP,
    check_request,
    scrub,
    secret_values,
    worst_case_tokens,
)
from sia_core.models import ChatModel, ModelError, ModelReply, chunks_of
from sia_core.sandbox.api import GatewayLink

ITEM_HEADER = "X-SIA-Item"
MAX_BODY = 32 * 1024 * 1024
# Connections beyond the backlog are dropped by the kernel: 256 agents' calls at once
# must all be queued, then served under the concurrency cap.
BACKLOG = 4096


@dataclass(frozen=True)
class Budget:
    max_tokens: int | None = None
    max_cost_usd: float | None = None


@dataclass
class Usage:
    calls: int = 0
    refused: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls_without_price: int = 0
    items: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = len(self.items)
        data["cost_usd"] = round(self.cost_usd, 6)
        return data


def add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Sum one gateway's usage (`Usage.as_dict()`) into a running total."""
    for key, value in usage.items():
        total[key] = total.get(key, 0) + value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sia-gateway"
    gateway: Gateway  # set on the subclass each gateway creates

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send_body(status, json.dumps(payload).encode())

    def _send_body(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, code: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": code, "code": code}})

    def _authorized(self) -> bool:
        supplied = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if secrets.compare_digest(supplied, self.gateway.token):
            return True
        self._error(HTTPStatus.UNAUTHORIZED, "invalid sia gateway token", "invalid_api_key")
        return False

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            model = {"id": self.gateway.model_name, "object": "model", "owned_by": "sia"}
            self._send_json(HTTPStatus.OK, {"object": "list", "data": [model]})
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}", "not_found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large", "too_large")
            self.close_connection = True
            return
        raw = self.rfile.read(length)
        if not self._authorized():
            return
        try:
            request = json.loads(raw)
            if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
                raise ValueError("body needs a 'messages' list")
            check_request(request)
        except ValueError as exc:  # RequestRefused included
            self._error(HTTPStatus.BAD_REQUEST, f"bad request: {exc}", "invalid_request_error")
            return
        self.gateway.handle(self, request)


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = BACKLOG


class _TCPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG


class Gateway:
    def __init__(
        self,
        model: ChatModel | None,
        log_path: Path,
        *,
        budget: Budget | None = None,
        concurrency: int = 32,
        model_name: str | None = None,
    ) -> None:
        self.model = model
        self.model_name = model_name or (model.name if model else "none")
        self.log_path = log_path
        self.budget = budget or Budget()
        self.token = "sia-" + secrets.token_urlsafe(24)
        self.secrets = secret_values((getattr(model, "api_key", None),))
        self.usage = Usage()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._in_flight = 0
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and delayed ACKs hold every response back by about 40 ms.
        self._unix_handler = type("Handler", (_Handler,), {"gateway": self})
        tcp_handler = type(
            "Handler", (_Handler,), {"gateway": self, "disable_nagle_algorithm": True}
        )
        self._tcp = _TCPServer(("127.0.0.1", 0), tcp_handler)
        self._servers: list[socketserver.BaseServer] = []
        self._log = None

    @property
    def port(self) -> int:
        return self._tcp.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self, server: socketserver.BaseServer) -> None:
        self._servers.append(server)
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            daemon=True,
            name="sia-gateway",
        ).start()

    def start(self) -> Gateway:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self._serve(self._tcp)
        return self

    def listen_unix(self, path: Path) -> Any:
        server = _UnixServer(str(path), self._unix_handler)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            self._servers.remove(server)

        self._serve(server)
        return stop

    def link(self) -> GatewayLink:
        return GatewayLink(
            port=self.port, token=self.token, model=self.model_name, listen_unix=self.listen_unix
        )

    def stop(self, drain_s: float = 10.0) -> None:
        for server in list(self._servers):
            server.shutdown()
            server.server_close()
        self._servers.clear()
        # Calls still being answered (an agent killed mid-call) get a moment to be logged.
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=drain_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one call ---------------------------------------------------------------------

    def _admit(self, tokens: int, usd: float) -> str | None:
        """Reserve a call's worst case, or say why it does not fit. Holds self._lock."""
        spent = self.usage.prompt_tokens + self.usage.completion_tokens
        limit = self.budget.max_tokens
        if limit is not None and spent + self._reserved_tokens + tokens > limit:
            return (
                f"token budget: this call may use up to {tokens} tokens; "
                f"{spent} spent and {self._reserved_tokens} reserved of {limit}"
            )
        cap = self.budget.max_cost_usd
        if cap is not None and self.usage.cost_usd + self._reserved_usd + usd > cap:
            return (
                f"cost budget: this call may cost up to ${usd:.4f}; "
                f"${self.usage.cost_usd:.4f} spent and ${self._reserved_usd:.4f} reserved "
                f"of ${cap}"
            )
        self._reserved_tokens += tokens
        self._reserved_usd += usd
        return None

    def _worst_case(self, request: dict[str, Any]) -> tuple[int, float]:
        if self.budget.max_tokens is None and self.budget.max_cost_usd is None:
            return 0, 0.0
        if not (request.get("max_tokens") or request.get("max_completion_tokens")):
            # The worst case must hold: with a budget, a call names its cap or gets ours.
            request["max_tokens"] = DEFAULT_COMPLETION_CAP
        tokens = worst_case_tokens(request)
        completion = int(request.get("max_completion_tokens") or request["max_tokens"])
        completion *= int(request.get("n") or 1)
        price = getattr(self.model, "price", None)
        usd = price(tokens - completion, completion) if price else None
        return tokens, usd or 0.0

    def handle(self, handler: _Handler, request: dict[str, Any]) -> None:
        with self._idle:
            self._in_flight += 1
        try:
            self._handle(handler, request)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle(self, handler: _Handler, request: dict[str, Any]) -> None:
        metadata = request.get("metadata") if isinstance(request.get("metadata"), dict) else {}
        item = handler.headers.get(ITEM_HEADER) or metadata.get("item_id") or request.get("user")
        item_id = str(item) if item is not None else None
        record: dict[str, Any] = {
            "call_id": uuid.uuid4().hex[:16],
            "ts": time.time(),
            "item_id": item_id,
            "model": self.model_name,
            "stream": bool(request.get("stream")),
            "request": {k: v for k, v in request.items() if k not in ("stream_options",)},
        }
        worst_tokens, worst_usd = self._worst_case(request)
        with self._lock:
            refusal = self._admit(worst_tokens, worst_usd)
            if refusal:
                self.usage.refused += 1
        if refusal:
            record.update(status="refused", http_status=402, error=refusal)
            self._write(record)
            handler._error(
                HTTPStatus.PAYMENT_REQUIRED, f"sia gateway: {refusal}", "budget_exceeded"
            )
            return
        if self.model is None:
            record.update(status="error", http_status=503, error="no task model configured")
            self._write(record)
            handler._error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "sia gateway: no task model configured; run with --task-model",
                "no_model",
            )
            return
        started = time.monotonic()
        try:
            with self._slots:
                waited = time.monotonic() - started
                try:
                    if request.get("stream"):
                        reply = self._stream(handler, request)
                    else:
                        reply = self.model.complete(request)
                except ModelError as exc:
                    message = scrub(str(exc), self.secrets)
                    record.update(
                        status="error",
                        http_status=exc.status,
                        error=message,
                        latency_s=time.monotonic() - started,
                    )
                    with self._lock:
                        self.usage.errors += 1
                    self._write(record)
                    if getattr(handler, "_streaming", False):
                        self._end_stream(handler)
                    else:
                        handler._error(exc.status, message, "upstream_error")
                    return
        finally:
            with self._lock:
                self._reserved_tokens -= worst_tokens
                self._reserved_usd -= worst_usd
        with self._lock:
            self.usage.calls += 1
            self.usage.prompt_tokens += reply.prompt_tokens
            self.usage.completion_tokens += reply.completion_tokens
            if reply.cost_usd is None:
                self.usage.calls_without_price += 1
            else:
                self.usage.cost_usd += reply.cost_usd
            if item_id is not None:
                self.usage.items.add(item_id)
        choices = reply.response.get("choices") or []
        record.update(
            status="ok",
            http_status=200,
            latency_s=round(time.monotonic() - started, 4),
            queue_s=round(waited, 4),
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=reply.cost_usd,
            response=[c.get("message") for c in choices],
            finish_reason=[c.get("finish_reason") for c in choices],
        )
        if reply.extra:
            record["extra"] = reply.extra
        # Logged before the reply is finished: an agent that has its answer can rely on
        # the call being in calls.jsonl.
        self._write(record)
        if request.get("stream"):
            self._end_stream(handler)
        else:
            handler._send_body(HTTPStatus.OK, self._clean(json.dumps(reply.response)))

    def _clean(self, body: str) -> bytes:
        """A reply on its way to the agent, with any of sia's secret values removed."""
        return scrub(body, self.secrets, shapes=False).encode()

    def _end_stream(self, handler: _Handler) -> None:
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

    def _stream(self, handler: _Handler, request: dict[str, Any]) -> ModelReply:
        assert self.model is not None

        def start_stream() -> None:
            handler.send_response(HTTPStatus.OK)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "no-cache")
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.close_connection = True
            handler._streaming = True

        def emit(chunk: dict[str, Any]) -> None:
            if not getattr(handler, "_streaming", False):
                start_stream()
            handler.wfile.write(b"data: " + self._clean(json.dumps(chunk)) + b"\n\n")
            handler.wfile.flush()

        stream = getattr(self.model, "stream", None)
        if stream is not None:
            reply = stream(request, emit)
        else:
            reply = self.model.complete(request)
            for chunk in chunks_of(reply.response):
                emit(chunk)
        if not getattr(handler, "_streaming", False):
            start_stream()
        return reply

    def _write(self, record: dict[str, Any]) -> None:
        line = scrub(json.dumps(record, default=str), self.secrets, shapes=False) + "\n"
        with self._lock:
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
