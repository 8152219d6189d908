"""The model gateway: an OpenAI-compatible server on loopback for one evaluation.

The task agent never holds a provider key. It talks to this server with a per-run
token; the server forwards to the task model, enforces a concurrency cap and a token
and cost budget, and appends every call, tagged with its item id, to calls.jsonl.
Item ids come from the `X-SIA-Item` header, `metadata.item_id` in the body, or `user`.
Requests are held to an allow-list of fields (sia_core.gateway.admission); a call is admitted
only if its worst case fits what is left of the budget, counting the calls in flight.

The server is asynchronous (aiohttp on an event loop in its own thread): hundreds of
agents' connections cost no thread each. A task model that speaks the OpenAI wire
format is forwarded as it is over one pooled client (sia_core.gateway.upstream); other
models (litellm's translations, the in-process local policy) answer in a thread pool
as large as the concurrency cap, so the local policy still sees concurrent calls to batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core.gateway.admission import (
    DEFAULT_COMPLETION_CAP,
    check_request,
    scrub,
    secret_values,
    wants_usage,
    worst_case_tokens,
)
from sia_core.gateway.models import ChatModel, ModelError, ModelReply, chunks_of
from sia_core.gateway.upstream import OpenAIWireModel, StreamedReply
from sia_core.sandbox.api import GatewayLink

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
MAX_UNKNOWN_ITEMS = 10_000
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
    unknown_items: set[str] = field(default_factory=set)
    """Item ids not in the split (at most MAX_UNKNOWN_ITEMS kept: agent-written)."""
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Failed calls by HTTP status: {"401": {"count": 3, "first": "the first error"}}
    (scrubbed of sia's secrets); `errors` is their total."""

    def failed(self, status: int, message: str) -> None:
        reason = self.failures.setdefault(str(status), {"count": 0, "first": message[:300]})
        reason["count"] += 1

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = len(self.items)
        data["unknown_items"] = len(self.unknown_items)
        data["cost_usd"] = round(self.cost_usd, 6)
        return data


def add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Sum one gateway's usage (`Usage.as_dict()`) into a running total: numbers add,
    tables add key by key, and a text (a first error) keeps the first one seen."""
    for key, value in usage.items():
        if isinstance(value, dict):
            add_usage(total.setdefault(key, {}), value)
        elif isinstance(value, str):
            total.setdefault(key, value)
        else:
            total[key] = total.get(key, 0) + value


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
        self.known_items = known_items
        """The split's item ids, when known: a call tagged with another id is logged, but
        counted apart (`unknown_items`), so invented ids do not inflate the item count."""
        self.model_name = model_name or (model.name if model else "none")
        self.log_path = log_path
        self.budget = budget or Budget()
        self.concurrency = concurrency
        self.token = "sia-" + secrets.token_urlsafe(24)
        self.secrets = secret_values((getattr(model, "api_key", None),))
        self._secret_bytes = tuple(s.encode() for s in self.secrets)
        self.usage = Usage()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._lock = threading.Lock()
        self._in_flight = 0
        # Bound now, so that the port is known before the server starts.
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.bind(("127.0.0.1", 0))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._readers: asyncio.Semaphore | None = None
        self._buffered = 0
        self._idle: asyncio.Event | None = None
        self._log = None

    @property
    def forwarding(self) -> bool:
        """Whether calls go to the provider as they are (else through the model object)."""
        return isinstance(self.model, OpenAIWireModel)

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
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
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
        from aiohttp import ClientSession, TCPConnector, web

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
        if self.forwarding:
            self._session = ClientSession(
                connector=TCPConnector(limit=self.concurrency, ttl_dns_cache=300),
                auto_decompress=True,
            )
        elif self.model is not None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sia-model")

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
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if self._log is not None:
            with self._lock:
                self._log.close()
                self._log = None

    async def _shutdown(self, drain_s: float) -> None:
        assert self._runner is not None and self._idle is not None
        for site in list(self._runner.sites):
            await site.stop()
        # Calls still being answered (an agent killed mid-call) get a moment to be logged.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_s)
        await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

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
        # The worst case must hold: with a budget, a call gets one cap, the larger it asked
        # for under either name (or ours), forwarded under both names, since a server
        # may read only one of them (llama.cpp's reads max_tokens).
        asked = [request.get("max_tokens"), request.get("max_completion_tokens")]
        cap = max((int(v) for v in asked if v), default=DEFAULT_COMPLETION_CAP)
        request["max_tokens"] = request["max_completion_tokens"] = cap
        tokens = worst_case_tokens(request)
        completion = cap * int(request.get("n") or 1)
        price = getattr(self.model, "price", None)
        usd = price(tokens - completion, completion) if price else None
        return tokens, usd or 0.0

    async def _call(self, http: web.Request, request: dict[str, Any]) -> web.StreamResponse:
        metadata = request.get("metadata") if isinstance(request.get("metadata"), dict) else {}
        item = http.headers.get(ITEM_HEADER) or metadata.get("item_id") or request.get("user")
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
            return self._error(
                HTTPStatus.PAYMENT_REQUIRED, f"sia gateway: {refusal}", "budget_exceeded"
            )
        started = time.monotonic()
        assert self._slots is not None
        try:
            if self.model is None:
                record.update(status="error", http_status=503, error="no task model configured")
                with self._lock:
                    self.usage.errors += 1
                    self.usage.failed(503, "no task model configured; run with --task-model")
                self._write(record)
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
                    reply, raw = await self._complete(request)
                except ModelError as exc:
                    return self._failed(record, exc, started)
                except Exception as exc:  # never a traceback in sia's console
                    failure = ModelError(f"{type(exc).__name__}: {exc}"[:500], 502)
                    return self._failed(record, failure, started)
        finally:
            with self._lock:
                self._reserved_tokens -= worst_tokens
                self._reserved_usd -= worst_usd
        self._finish(record, reply, started, waited)
        return self._json(HTTPStatus.OK, self._clean(raw))

    async def _complete(self, request: dict[str, Any]) -> tuple[ModelReply, bytes]:
        if isinstance(self.model, OpenAIWireModel):
            return await self.model.complete(self._session, request)
        assert self.model is not None and self._loop is not None
        reply = await self._loop.run_in_executor(self._pool, self.model.complete, request)
        return reply, json.dumps(reply.response).encode()

    def _failed(self, record: dict[str, Any], exc: ModelError, started: float) -> web.Response:
        message = scrub(str(exc), self.secrets)
        record.update(
            status="error",
            http_status=exc.status,
            error=message,
            latency_s=time.monotonic() - started,
        )
        with self._lock:
            self.usage.errors += 1
            self.usage.failed(exc.status, message)
        self._write(record)
        return self._error(exc.status, message, "upstream_error")

    def _finish(
        self, record: dict[str, Any], reply: ModelReply, started: float, waited: float
    ) -> None:
        item_id = record["item_id"]
        with self._lock:
            self.usage.calls += 1
            self.usage.prompt_tokens += reply.prompt_tokens
            self.usage.completion_tokens += reply.completion_tokens
            if reply.cost_usd is None:
                self.usage.calls_without_price += 1
            else:
                self.usage.cost_usd += reply.cost_usd
            if item_id is None:
                pass
            elif self.known_items is None or item_id in self.known_items:
                self.usage.items.add(item_id)
            else:
                record["unknown_item"] = True
                if len(self.usage.unknown_items) < MAX_UNKNOWN_ITEMS:
                    self.usage.unknown_items.add(item_id)
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
        asked = record["request"]
        cap = max(
            (int(asked[k]) for k in ("max_tokens", "max_completion_tokens") if asked.get(k)),
            default=0,
        )
        if cap and reply.completion_tokens > cap * int(asked.get("n") or 1):
            # Counted against the budget as served; the next calls see it as spent.
            record["over_cap"] = True
        # Logged before the reply is finished: an agent that has its answer can rely on
        # the call being in calls.jsonl.
        self._write(record)

    def _clean(self, body: bytes) -> bytes:
        """A reply on its way to the agent, with any of sia's secret values removed."""
        if not any(secret in body for secret in self._secret_bytes):
            return body
        text = body.decode("utf-8", errors="replace")
        return scrub(text, self.secrets, shapes=False).encode()

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

        collected = StreamedReply()
        if isinstance(self.model, OpenAIWireModel):
            events = self.model.stream(self._session, request, collected)
        else:
            events = self._thread_stream(request, collected)
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
                        await response.write(self._clean(event))
                    except (ConnectionError, RuntimeError):
                        # The agent went away: the call still runs out, to be counted.
                        gone = True
        except ModelError as exc:
            failed = self._failed(record, exc, started)
            if response is None:
                return failed
            return await self._end_stream(response, gone)
        assert collected.reply is not None
        self._finish(record, collected.reply, started, waited)
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

    async def _thread_stream(
        self, request: dict[str, Any], collected: StreamedReply
    ) -> AsyncIterator[bytes]:
        """A model object's stream, run in the pool, its chunks handed to the loop."""
        assert self._loop is not None and self.model is not None
        loop, model = self._loop, self.model
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def emit(chunk: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)

        def produce() -> ModelReply:
            try:
                stream = getattr(model, "stream", None)
                if stream is not None:
                    return stream(request, emit)
                reply = model.complete(request)
                for chunk in chunks_of(reply.response):
                    emit(chunk)
                return reply
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        future = loop.run_in_executor(self._pool, produce)
        wanted_usage = wants_usage(request)
        while (chunk := await queue.get()) is not None:
            if not wanted_usage:
                # litellm always asks for usage (budgets count it); like the passthrough,
                # the agent gets it only if it asked
                if not chunk.get("choices"):
                    continue
                chunk.pop("usage", None)
            yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
        collected.reply = await future

    def _write(self, record: dict[str, Any]) -> None:
        line = scrub(json.dumps(record, default=str), self.secrets, shapes=False) + "\n"
        with self._lock:
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
