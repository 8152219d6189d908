"""The gateway's fast path: a task model that already speaks the OpenAI wire format.

Its calls are forwarded as they are over the gateway's pooled async HTTP client; only
what logging, budgets and item ids need is parsed (the usage, the reply's messages).
litellm stays for providers whose format must be translated (sia_core.policy.models).

Which models go this way: `openai/NAME`, `openrouter/NAME`, `together_ai/NAME`,
`hosted_vllm/NAME`, and any model given a `--task-model-base` server under one of those
prefixes (vLLM, Ollama, llama.cpp and LM Studio all serve `/v1/chat/completions`).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sia_core.gateway.admission import wants_usage
from sia_core.policy.models import MODEL_FIELDS, ModelError, ModelReply

# provider prefix -> (default base URL, environment variable holding its key)
OPENAI_WIRE: dict[str, tuple[str | None, str]] = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "together_ai": ("https://api.together.xyz/v1", "TOGETHERAI_API_KEY"),
    "hosted_vllm": (None, "HOSTED_VLLM_API_KEY"),
}
# Worth another try: the provider was busy or briefly away (as the OpenAI SDK retries).
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def passthrough_model(
    name: str, api_base: str | None, *, max_retries: int = 2, timeout_s: float = 600.0
) -> OpenAIWireModel | None:
    """The forwarding model for `name`, or None when litellm must translate its calls."""
    provider, _, upstream = name.partition("/")
    if not upstream or provider not in OPENAI_WIRE:
        return None
    default_base, key_env = OPENAI_WIRE[provider]
    base = api_base or (os.environ.get("OPENAI_BASE_URL") if provider == "openai" else None)
    base = base or default_base
    if base is None:
        return None
    return OpenAIWireModel(
        name=name,
        upstream_model=upstream,
        base_url=base.rstrip("/"),
        api_key=os.environ.get(key_env),
        max_retries=max_retries,
        timeout_s=timeout_s,
    )


@dataclass
class OpenAIWireModel:
    name: str
    upstream_model: str
    base_url: str
    api_key: str | None = None
    max_retries: int = 2
    timeout_s: float = 600.0

    # -- prices: litellm's table, read from its file once; litellm itself is not imported
    # (seconds of CPU) and never called per request -------------------------------------

    @functools.cached_property
    def _per_token(self) -> tuple[float, float] | None:
        table = price_table()
        info = table.get(self.name) or table.get(self.upstream_model) or {}
        try:
            return float(info["input_cost_per_token"]), float(info["output_cost_per_token"])
        except (KeyError, TypeError, ValueError):
            return None

    def price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        prices = self._per_token
        if prices is None:
            return None
        return prompt_tokens * prices[0] + completion_tokens * prices[1]

    # -- one call ----------------------------------------------------------------------

    def body(self, request: dict[str, Any], *, stream: bool) -> bytes:
        """What goes upstream: the allow-listed fields under the run's model name."""
        out: dict[str, Any] = {"model": self.upstream_model, "messages": request["messages"]}
        out.update((k, v) for k, v in request.items() if k in MODEL_FIELDS)
        if stream:
            out["stream"] = True
            # Usage is what budgets count; asked for whether or not the agent did.
            out["stream_options"] = {"include_usage": True}
        return json.dumps(out, separators=(",", ":")).encode()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _post(self, session: Any, body: bytes) -> Any:
        """POST with retries on busy answers and dropped connections; the response is
        open (its body unread) and 2xx."""
        import aiohttp

        url = f"{self.base_url}/chat/completions"
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await session.post(
                    url, data=body, headers=self._headers(), timeout=timeout
                )
            except TimeoutError:
                raise ModelError(f"upstream timed out after {self.timeout_s:.0f} s", 504) from None
            except aiohttp.ClientError as exc:
                if last:
                    raise ModelError(f"upstream unreachable: {type(exc).__name__}", 502) from None
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if response.status < 300:
                return response
            text = await response.text(errors="replace")
            response.release()
            if response.status in RETRY_STATUSES and not last:
                await asyncio.sleep(_retry_after(response.headers.get("Retry-After"), attempt))
                continue
            raise ModelError(f"upstream {response.status}: {_error_text(text)}", response.status)
        raise AssertionError("unreachable")

    async def complete(self, session: Any, request: dict[str, Any]) -> tuple[ModelReply, bytes]:
        """The reply, and the provider's body to send to the agent unchanged."""
        response = await self._post(session, self.body(request, stream=False))
        raw = await response.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ModelError("upstream sent a reply that is not JSON", 502) from None
        if not isinstance(parsed, dict):
            raise ModelError("upstream sent a reply that is not a JSON object", 502)
        return self._reply(parsed, parsed.get("usage")), raw

    async def stream(
        self, session: Any, request: dict[str, Any], collected: StreamedReply
    ) -> AsyncIterator[bytes]:
        """The provider's server-sent events, each as it arrives, ready to forward; the
        usage-only event is held back unless the agent asked for it. `collected` holds
        the whole reply when the iteration ends."""
        wanted_usage = wants_usage(request)
        response = await self._post(session, self.body(request, stream=True))
        try:
            async for line in _lines(response.content):
                if not line.startswith(b"data:"):
                    continue  # comments, event names, the blank lines between events
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise ModelError("upstream sent a stream event that is not JSON", 502) from None
                usage_only = isinstance(chunk, dict) and not chunk.get("choices")
                collected.add(chunk)
                if usage_only and not wanted_usage:
                    continue
                yield b"data: " + data + b"\n\n"
        finally:
            response.release()
        collected.reply = self._reply(collected.response(), collected.usage)

    def _reply(self, response: dict[str, Any], usage: Any) -> ModelReply:
        usage = usage if isinstance(usage, dict) else {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        return ModelReply(
            response=response,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=self.price(prompt, completion),
        )


@dataclass
class StreamedReply:
    """A streamed reply put back together from its chunks, for the log and the budget."""

    meta: dict[str, Any] = field(default_factory=dict)
    choices: dict[int, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    reply: ModelReply | None = None

    def add(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if not self.meta:
            self.meta = {k: chunk.get(k) for k in ("id", "created", "model")}
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for part in chunk.get("choices") or []:
            index = int(part.get("index") or 0)
            choice = self.choices.setdefault(
                index, {"index": index, "message": {"role": "assistant"}, "finish_reason": None}
            )
            if part.get("finish_reason"):
                choice["finish_reason"] = part["finish_reason"]
            delta = part.get("delta") or {}
            message = choice["message"]
            if delta.get("content"):
                message["content"] = (message.get("content") or "") + delta["content"]
            for call in delta.get("tool_calls") or []:
                calls = message.setdefault("tool_calls", [])
                slot = int(call.get("index") or 0)
                while len(calls) <= slot:
                    calls.append({"type": "function", "function": {"name": "", "arguments": ""}})
                target = calls[slot]
                if call.get("id"):
                    target["id"] = call["id"]
                function = call.get("function") or {}
                target["function"]["name"] += function.get("name") or ""
                target["function"]["arguments"] += function.get("arguments") or ""

    def response(self) -> dict[str, Any]:
        choices = [self.choices[i] for i in sorted(self.choices)]
        for choice in choices:
            choice["message"].setdefault("content", None)
        return {**self.meta, "object": "chat.completion", "choices": choices}


async def _lines(content: Any) -> AsyncIterator[bytes]:
    """Lines of a byte stream, of any length (aiohttp's own line reader caps them)."""
    buffer = b""
    async for data in content.iter_any():
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line
    if buffer:
        yield buffer


@functools.cache
def price_table() -> dict[str, Any]:
    """litellm's model price table as shipped in its wheel (what it uses itself under
    LITELLM_LOCAL_MODEL_COST_MAP); empty when litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations)))
    try:
        table = json.loads((path / "model_prices_and_context_window_backup.json").read_text())
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) else {}


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return min(float(header), 10.0) if header else 0.5 * 2**attempt
    except ValueError:
        return 0.5 * 2**attempt


def _error_text(body: str) -> str:
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return str(message)[:500]
    except (ValueError, AttributeError):
        pass
    return body[:500]
