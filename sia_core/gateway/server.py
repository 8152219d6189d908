"""The model gateway: an OpenAI-compatible server on loopback for one evaluation.

The task agent never holds a provider key. It talks to this server with a per-run
token; the server forwards to the task model, enforces a concurrency cap and a token
and cost budget, and appends every call, tagged with its item id, to calls.jsonl.
Item ids come from the `X-SIA-Item` header, `metadata.item_id` in the body, or `user`.

A call passes four stages, one module each: intake (this module: the token, bounded
body reads, routes, the server's life cycle), admission (sia_core.gateway.admission:
the allow-listed request fields, and the budget's worst case counting the calls in
flight), forwarding (sia_core.gateway.forwarding: the pooled client or the model's
threads) and accounting (sia_core.gateway.accounting: Usage and calls.jsonl, scrubbed).

The server is asynchronous (aiohttp on an event loop in its own thread): hundreds of
agents' connections cost no thread each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core.gateway.accounting import CallBook
from sia_core.gateway.admission import Budget, BudgetGate, check_request, secret_values
from sia_core.gateway.forwarding import Forwarder
from sia_core.gateway.upstream import OpenAIWireModel, StreamedReply
from sia_core.policy.models import ChatModel, ModelError
from sia_core.sandbox.api import GatewayLink
from sia_core.usage import Usage

if TYPE_CHECKING:
    from aiohttp import web

ITEM_HEADER = "X-SIA-Item"
MAX_BODY = 32 * 1024 * 1024
MAX_BUFFERED = 4 * MAX_BODY
"""Request bytes the gateway holds at once, across connections (a body without a
Content-Length counts as MAX_BODY until read)."""
READERS = 8
"""Request bodies read at once."""
READ_TIMEOUT_S = 30.0
# Connections beyond the backlog are dropped by the kernel: 256 agents' calls at once
# must all be queued, then served under the concurrency cap.
BACKLOG = 4096




def _error_body(message: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": code, "code": code}}).encode()


class Gateway:
    def __init__(
        self,
        model: ChatModel | OpenAIWireModel | None,
        log_path: Path,
        *,
        budget: Budget | None = None,
        concurrency: int = 32,
        model_name: str | None = None,
        known_items: set[str] | None = None,
    ) -> None:
        self.model = model
        self.model_name = model_name or (model.name if model else "none")
        self.log_path = log_path
        self.budget = budget or Budget()
        self.concurrency = concurrency
        self.token = "sia-" + secrets.token_urlsafe(24)
        self.secrets = secret_values((getattr(model, "api_key", None),))
        self._lock = threading.Lock()
        self.book = CallBook(log_path, self.model_name, self.secrets, known_items, self._lock)
        self.gate = BudgetGate(self.budget, getattr(model, "price", None))
        self.forwarder = Forwarder(model, concurrency) if model is not None else None
        self._in_flight = 0
        # Bound now, so that the port is known before the server starts.
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.bind(("127.0.0.1", 0))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._slots: asyncio.Semaphore | None = None
        self._readers: asyncio.Semaphore | None = None
        self._buffered = 0
        self._idle: asyncio.Event | None = None

    @property
    def usage(self) -> Usage:
        return self.book.usage

    @property
    def forwarding(self) -> bool:
        """Whether calls go to the provider as they are (else through the model object)."""
        return self.forwarder is not None and self.forwarder.passthrough

    @property
    def port(self) -> int:
        return self._tcp.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- life cycle (called from any thread; the server lives on its own loop) -----------

    def _on_loop(self, coroutine: Any, timeout: float | None = None) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> Gateway:
        self.book.open()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="sia-gateway"
        )
        self._thread.start()
        self._tcp.listen(BACKLOG)
        if isinstance(self.model, OpenAIWireModel):
            self.model.price(0, 0)  # reads the price table here, not on the server's loop
        self._on_loop(self._setup())
        return self

    async def _setup(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._no_route)
        # The gateway drains its own calls on stop; the runner need not wait again.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.SockSite(self._runner, self._tcp, backlog=BACKLOG).start()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._readers = asyncio.Semaphore(READERS)
        self._idle = asyncio.Event()
        self._idle.set()
        if self.forwarder is not None:
            self.forwarder.open(asyncio.get_running_loop())

    def listen_unix(self, path: Path) -> Callable[[], None]:
        """Serve on a Unix socket at `path` too (a sandbox's relay connects there);
        returns what stops that."""
        from aiohttp import web

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen(BACKLOG)
        assert self._runner is not None
        site = web.SockSite(self._runner, sock, backlog=BACKLOG)
        self._on_loop(site.start())

        def stop() -> None:
            if self._loop is not None and self._loop.is_running():
                self._on_loop(site.stop())

        return stop

    def link(self) -> GatewayLink:
        return GatewayLink(
            port=self.port, token=self.token, model=self.model_name, listen_unix=self.listen_unix
        )

    def stop(self, drain_s: float = 10.0) -> None:
        if self._loop is not None and self._loop.is_running():
            self._on_loop(self._shutdown(drain_s))
            self._loop.call_soon_threadsafe(self._loop.stop)
            assert self._thread is not None
            self._thread.join(5)
            if self._in_flight == 0:
                self._loop.close()
            # else a model thread still holds a call: it finds the loop stopped, not closed
        self._loop = None
        self._tcp.close()
        if self.forwarder is not None:
            self.forwarder.close_pool()
        self.book.close()

    async def _shutdown(self, drain_s: float) -> None:
        assert self._runner is not None and self._idle is not None
        for site in list(self._runner.sites):
            await site.stop()
        # Calls still being answered (an agent killed mid-call) get a moment to be logged.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_s)
        await self._runner.cleanup()
        if self.forwarder is not None:
            await self.forwarder.close_session()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routes ------------------------------------------------------------------------

    def _json(self, status: int, body: bytes) -> web.Response:
        from aiohttp import web

        return web.Response(status=status, body=body, content_type="application/json")

    def _error(self, status: int, message: str, code: str) -> web.Response:
        return self._json(status, _error_body(message, code))

    def _authorized(self, request: web.Request) -> bool:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return secrets.compare_digest(supplied.encode(), self.token.encode())

    def _unauthorized(self) -> web.Response:
        return self._error(HTTPStatus.UNAUTHORIZED, "invalid sia gateway token", "invalid_api_key")

    async def _no_route(self, request: web.Request) -> web.Response:
        return self._error(HTTPStatus.NOT_FOUND, f"no route {request.path}", "not_found")

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        model = {"id": self.model_name, "object": "model", "owned_by": "sia"}
        return self._json(HTTPStatus.OK, json.dumps({"object": "list", "data": [model]}).encode())

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        too_large = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large", "too_large")
        # Nothing of the body is read before the token (a header) checks out, and what is
        # read is bounded: a few readers at a time, MAX_BUFFERED bytes in all, each
        # reader timed. The agent holds a valid token, so the bounds hold for it too.
        if not self._authorized(request):
            return self._unauthorized()
        length = request.content_length
        if (length or 0) > MAX_BODY:
            return self._error(*too_large)
        reserve = MAX_BODY if length is None else length
        assert self._readers is not None
        async with self._readers:
            if self._buffered + reserve > MAX_BUFFERED:
                return self._error(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    "sia gateway: too many request bytes in flight; retry shortly",
                    "busy",
                )
            self._buffered += reserve
            try:
                raw = await asyncio.wait_for(request.read(), READ_TIMEOUT_S)
            except web.HTTPRequestEntityTooLarge:
                return self._error(*too_large)
            except TimeoutError:
                return self._error(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"sia gateway: request body not received within {READ_TIMEOUT_S:.0f} s",
                    "timeout",
                )
            finally:
                self._buffered -= reserve
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("body needs a 'messages' list")
            check_request(body)
        except ValueError as exc:  # RequestRefused included
            return self._error(
                HTTPStatus.BAD_REQUEST, f"bad request: {exc}", "invalid_request_error"
            )
        self._in_flight += 1
        self._idle.clear()  # type: ignore[union-attr]
        try:
            return await self._call(request, body)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()  # type: ignore[union-attr]

    # -- one call ----------------------------------------------------------------------

    async def _call(self, http: web.Request, request: dict[str, Any]) -> web.StreamResponse:
        metadata = request.get("metadata") if isinstance(request.get("metadata"), dict) else {}
        item = http.headers.get(ITEM_HEADER) or metadata.get("item_id") or request.get("user")
        record = self.book.new_record(str(item) if item is not None else None, request)
        worst_tokens, worst_usd = self.gate.worst_case(request)
        with self._lock:
            refusal = self.gate.admit(self.usage, worst_tokens, worst_usd)
            if refusal:
                self.usage.refused += 1
        if refusal:
            self.book.refused(record, refusal)
            return self._error(
                HTTPStatus.PAYMENT_REQUIRED, f"sia gateway: {refusal}", "budget_exceeded"
            )
        started = time.monotonic()
        assert self._slots is not None
        try:
            if self.forwarder is None:
                no_model = ModelError("no task model configured; run with --task-model", 503)
                self.book.failed(record, no_model, started)
                return self._error(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    "sia gateway: no task model configured; run with --task-model",
                    "no_model",
                )
            async with self._slots:
                waited = time.monotonic() - started
                try:
                    if request.get("stream"):
                        return await self._stream(http, request, record, started, waited)
                    reply, raw = await self.forwarder.complete(request)
                except ModelError as exc:
                    return self._failed(record, exc, started)
                except Exception as exc:  # never a traceback in sia's console
                    failure = ModelError(f"{type(exc).__name__}: {exc}"[:500], 502)
                    return self._failed(record, failure, started)
        finally:
            with self._lock:
                self.gate.release(worst_tokens, worst_usd)
        self.book.served(record, reply, started, waited)
        return self._json(HTTPStatus.OK, self.book.clean(raw))

    def _failed(self, record: dict[str, Any], exc: ModelError, started: float) -> web.Response:
        message = self.book.failed(record, exc, started)
        return self._error(exc.status, message, "upstream_error")

    # -- streams -----------------------------------------------------------------------

    async def _stream(
        self,
        http: web.Request,
        request: dict[str, Any],
        record: dict[str, Any],
        started: float,
        waited: float,
    ) -> web.StreamResponse:
        from aiohttp import web

        assert self.forwarder is not None
        collected = StreamedReply()
        events = self.forwarder.stream(request, collected)
        response: web.StreamResponse | None = None
        gone = False
        try:
            async for event in events:
                if response is None:
                    response = web.StreamResponse(
                        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
                    )
                    await response.prepare(http)
                if not gone:
                    try:
                        await response.write(self.book.clean(event))
                    except (ConnectionError, RuntimeError):
                        # The agent went away: the call still runs out, to be counted.
                        gone = True
        except ModelError as exc:
            failed = self._failed(record, exc, started)
            if response is None:
                return failed
            return await self._end_stream(response, gone)
        assert collected.reply is not None
        self.book.served(record, collected.reply, started, waited)
        if response is None:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(http)
        return await self._end_stream(response, gone)

    async def _end_stream(self, response: web.StreamResponse, gone: bool) -> web.StreamResponse:
        if not gone:
            try:
                await response.write(b"data: [DONE]\n\n")
                await response.write_eof()
            except (ConnectionError, RuntimeError):
                pass
        return response
