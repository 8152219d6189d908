"""How the gateway reaches the task model once a call is admitted: a model that speaks
the OpenAI wire format over one pooled HTTP client (sia_core.gateway.upstream), any
other model (litellm's translations, the in-process policy) in a thread pool as large
as the concurrency cap, so that the local policy still sees concurrent calls to batch.
Streams come back as server-sent-event lines either way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sia_core.gateway.admission import wants_usage
from sia_core.gateway.upstream import OpenAIWireModel, StreamedReply
from sia_core.policy.models import ChatModel, ModelReply, chunks_of


class Forwarder:
    def __init__(self, model: ChatModel | OpenAIWireModel, concurrency: int) -> None:
        self.model = model
        self.concurrency = concurrency
        self._session: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def passthrough(self) -> bool:
        """Whether calls go to the provider as they are (else through the model object)."""
        return isinstance(self.model, OpenAIWireModel)

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the gateway's loop: the pooled client, or the model's threads."""
        from aiohttp import ClientSession, TCPConnector

        self._loop = loop
        if self.passthrough:
            self._session = ClientSession(
                connector=TCPConnector(limit=self.concurrency, ttl_dns_cache=300),
                auto_decompress=True,
            )
        else:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sia-model")

    async def close_session(self) -> None:
        if self._session is not None:
            await self._session.close()

    def close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    async def complete(self, request: dict[str, Any]) -> tuple[ModelReply, bytes]:
        """One answer, and its body as the agent gets it (before scrubbing)."""
        if isinstance(self.model, OpenAIWireModel):
            return await self.model.complete(self._session, request)
        assert self._loop is not None
        reply = await self._loop.run_in_executor(self._pool, self.model.complete, request)
        return reply, json.dumps(reply.response).encode()

    def stream(self, request: dict[str, Any], collected: StreamedReply) -> AsyncIterator[bytes]:
        """The answer as server-sent-event lines; `collected.reply` holds the whole reply
        once the iterator ends."""
        if isinstance(self.model, OpenAIWireModel):
            return self.model.stream(self._session, request, collected)
        return self._thread_stream(request, collected)

    async def _thread_stream(
        self, request: dict[str, Any], collected: StreamedReply
    ) -> AsyncIterator[bytes]:
        """A model object's stream, run in the pool, its chunks handed to the loop."""
        assert self._loop is not None
        loop, model = self._loop, self.model
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def emit(chunk: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)

        def produce() -> ModelReply:
            try:
                stream = getattr(model, "stream", None)
                if stream is not None:
                    return stream(request, emit)
                reply = model.complete(request)  # type: ignore[union-attr]
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
