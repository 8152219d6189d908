"""Task models the gateway forwards to: an API model through litellm, or an in-process one
(the policy). They sit with the policy, below the gateway that serves them.

A model answers one OpenAI chat-completions request body. In-process models (the local
policy of the weights lever) implement `complete` only; the gateway streams their
answer as chunks itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sia_core.console_log import quiet_litellm

# Forwarded to the task model (the model name is always the run's, whatever is sent).
MODEL_FIELDS = frozenset(
    {
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
    }
)


@dataclass
class ModelReply:
    response: dict[str, Any]
    """An OpenAI `chat.completion` object."""
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    """None when the price of the model is unknown."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Logged with the call, never sent to the agent (token ids, log-probs, ...)."""


class ChatModel(Protocol):
    name: str

    def complete(self, request: dict[str, Any]) -> ModelReply: ...


class ModelError(Exception):
    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


def chat_completion(
    model: str, text: str, prompt_tokens: int, completion_tokens: int, finish_reason: str = "stop"
) -> dict[str, Any]:
    """Build a `chat.completion` object for a model that produced plain text."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chunks_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` sequence that streams a finished response."""
    base = {k: response.get(k) for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    out: list[dict[str, Any]] = []
    for choice in response.get("choices", []):
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {**call, "index": i} for i, call in enumerate(message["tool_calls"])
            ]
        out.append(
            {
                **base,
                "choices": [
                    {"index": choice.get("index", 0), "delta": delta, "finish_reason": None}
                ],
            }
        )
        out.append(
            {
                **base,
                "choices": [
                    {
                        "index": choice.get("index", 0),
                        "delta": {},
                        "finish_reason": choice.get("finish_reason"),
                    }
                ],
            }
        )
    out.append({**base, "choices": [], "usage": response.get("usage")})
    return out


def wire_response(response: dict[str, Any]) -> dict[str, Any]:
    """litellm's response as the provider sent it: without litellm's own message field
    (`provider_specific_fields`), and with `content` null where there is no text, as in
    the OpenAI format (litellm drops it, or makes it "" when it rebuilds a stream)."""
    for choice in response.get("choices") or []:
        message = choice.get("message")
        if isinstance(message, dict):
            message.pop("provider_specific_fields", None)
            message["content"] = message.get("content") or None
    return response


class LiteLLMModel:
    """Any provider litellm knows: "openai/gpt-4o-mini", "anthropic/claude-...", ..."""

    def __init__(
        self,
        name: str,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        max_retries: int = 2,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        """Where litellm's own log lines and warnings go (RUN/sia.log), never the console."""
        self.api_base = api_base
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries

    def _litellm(self) -> Any:
        return quiet_litellm(self.log_path)

    def _call(self, request: dict[str, Any], **extra: Any) -> Any:
        litellm = self._litellm()

        # Allow-listed again here: nothing the agent sends may steer litellm itself.
        params = {k: v for k, v in request.items() if k in MODEL_FIELDS}
        try:
            return litellm.completion(
                model=self.name,
                messages=request["messages"],
                api_base=self.api_base,
                api_key=self.api_key,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
                **params,
                **extra,
            )
        except Exception as exc:  # litellm maps every provider error to its own types
            status = getattr(exc, "status_code", None)
            raise ModelError(
                f"{type(exc).__name__}: {exc}"[:500], status if isinstance(status, int) else 502
            ) from exc

    def price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """What a call of this size would cost, or None when the price is unknown."""
        litellm = self._litellm()

        try:
            prompt, completion = litellm.cost_per_token(
                model=self.name, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:  # litellm raises for models missing from its price table
            return None
        return float(prompt + completion)

    def _cost(self, response: Any) -> float | None:
        litellm = self._litellm()

        try:
            return float(litellm.completion_cost(completion_response=response, model=self.name))
        except Exception:  # litellm raises for models missing from its price table
            return None

    def complete(self, request: dict[str, Any]) -> ModelReply:
        response = self._call(request)
        usage = getattr(response, "usage", None)
        return ModelReply(
            response=wire_response(response.model_dump(exclude_none=True)),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self._cost(response),
        )

    def stream(self, request: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> ModelReply:
        litellm = self._litellm()

        chunks = []
        for chunk in self._call(request, stream=True, stream_options={"include_usage": True}):
            chunks.append(chunk)
            emit(chunk.model_dump(exclude_none=True))
        full = litellm.stream_chunk_builder(chunks, messages=request["messages"])
        usage = getattr(full, "usage", None)
        return ModelReply(
            response=wire_response(full.model_dump(exclude_none=True)) if full is not None else {},
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self._cost(full) if full is not None else None,
        )
