"""What the gateway admits from a task agent, and what it lets back out.

Every field of a request comes from hostile code. Only the OpenAI chat-completions
fields below are accepted; anything else (base_url, api_base, api_key,
custom_llm_provider, extra_headers, mock_response, ...) is refused with HTTP 400 naming
the field, because litellm would act on it with sia's keys. Message content may carry
text and inline (data:) images only: a URL would make sia's process fetch it.
Errors and replies are scrubbed of sia's secrets before they reach the agent or the log.
A call is admitted only if its worst case fits what is left of the budget (BudgetGate).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sia_core.policy.models import MODEL_FIELDS
from sia_core.usage import Usage

# Read by the gateway itself, never forwarded.
GATEWAY_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "metadata", "user"})
ALLOWED_FIELDS = MODEL_FIELDS | GATEWAY_FIELDS
MESSAGE_KEYS = frozenset(
    {
        "role",
        "content",
        "name",
        "tool_calls",
        "tool_call_id",
        "refusal",
        "function_call",
        "annotations",
        "audio",
    }
)
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
PART_KEYS = frozenset({"type", "text", "image_url", "cache_control"})
DEFAULT_COMPLETION_CAP = 4096
"""max_tokens the gateway sets when a budget is in force and the request names none."""

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS?)$", re.IGNORECASE)
_SECRET_SHAPES = re.compile(
    r"(Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?:sk|rk|pk)-[A-Za-z0-9_-]{8,}"
    r"|\bAIza[0-9A-Za-z_-]{20,}"
    r"|(?i:x-api-key|authorization|api[_-]?key)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]{6,})"
)


class RequestRefused(ValueError):
    """The request carries something the gateway does not forward (HTTP 400)."""


def check_request(request: dict[str, Any]) -> None:
    for key in request:
        if key not in ALLOWED_FIELDS:
            raise RequestRefused(
                f"field {key!r} is not accepted by the sia gateway; accepted fields: "
                f"{', '.join(sorted(ALLOWED_FIELDS))}"
            )
    for i, message in enumerate(request["messages"]):
        if not isinstance(message, dict):
            raise RequestRefused(f"messages[{i}] must be an object")
        for key in message:
            if key not in MESSAGE_KEYS:
                raise RequestRefused(f"field 'messages[{i}].{key}' is not accepted")
        if message.get("role") not in ROLES:
            raise RequestRefused(f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}")
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                _check_part(part, f"messages[{i}].content[{j}]")
        elif content is not None and not isinstance(content, str):
            raise RequestRefused(f"messages[{i}].content must be a string or a list of parts")
    for i, tool in enumerate(request.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise RequestRefused(f"tools[{i}]: only tools of type 'function' are accepted")
    options = request.get("stream_options")
    if options is not None and (not isinstance(options, dict) or set(options) - {"include_usage"}):
        raise RequestRefused("stream_options may hold include_usage only")
    for key in ("n", "max_tokens", "max_completion_tokens"):
        value = request.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise RequestRefused(f"{key} must be a positive integer")
    seed = request.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        # The local policy seeds a call's draws with it; OpenAI takes integers only.
        raise RequestRefused("seed must be an integer")


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise RequestRefused(f"{where} must be an object")
    for key in part:
        if key not in PART_KEYS:
            raise RequestRefused(f"field '{where}.{key}' is not accepted")
    kind = part.get("type")
    if kind == "text":
        return
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url.startswith("data:"):
            return
        raise RequestRefused(f"{where}: images must be inline data: URLs, not links")
    raise RequestRefused(f"{where}: content parts of type {kind!r} are not accepted")


def wants_usage(request: dict[str, Any]) -> bool:
    """Whether a streaming agent asked for the usage chunk (the gateway always counts it,
    but sends it only when asked)."""
    return bool((request.get("stream_options") or {}).get("include_usage"))


def worst_case_tokens(request: dict[str, Any]) -> int:
    """An upper bound on the tokens a call can use: the prompt's UTF-8 size in bytes
    (a token covers at least one byte; the JSON framing covers the chat template's
    per-message tokens) plus the completion cap times n."""
    prompt = json.dumps([request.get("messages"), request.get("tools")], ensure_ascii=False)
    completion = request.get("max_completion_tokens") or request.get("max_tokens")
    completion = completion or DEFAULT_COMPLETION_CAP
    return len(prompt.encode("utf-8")) + int(completion) * int(request.get("n") or 1)


def secret_values(extra: tuple[str | None, ...] = ()) -> tuple[str, ...]:
    """The values in sia's environment that look like credentials, longest first."""
    values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8}
    values |= {v for v in extra if v and len(v) >= 8}
    return tuple(sorted(values, key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...], *, shapes: bool = True) -> str:
    """Replace sia's secret values; with `shapes`, also anything shaped like a key or an
    auth header (for error texts; a model's reply keeps its own words)."""
    for value in secrets:
        if value in text:
            text = text.replace(value, "[redacted]")
    return _SECRET_SHAPES.sub("[redacted]", text) if shapes else text


@dataclass(frozen=True)
class Budget:
    max_tokens: int | None = None
    max_cost_usd: float | None = None


class BudgetGate:
    """Admits a call only if its worst case fits what is left of the budget, counting
    the worst cases of the calls in flight (reserved until they end)."""

    def __init__(self, budget: Budget, price: Callable[[int, int], float | None] | None) -> None:
        self.budget = budget
        self.price = price
        self.reserved_tokens = 0
        self.reserved_usd = 0.0

    def worst_case(self, request: dict[str, Any]) -> tuple[int, float]:
        """The most tokens and dollars `request` can spend; sets its completion cap."""
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
        usd = self.price(tokens - completion, completion) if self.price else None
        return tokens, usd or 0.0

    def admit(self, usage: Usage, tokens: int, usd: float) -> str | None:
        """Reserve a call's worst case, or say why it does not fit. The caller holds the
        lock `usage` is counted under."""
        spent = usage.prompt_tokens + usage.completion_tokens
        limit = self.budget.max_tokens
        if limit is not None and spent + self.reserved_tokens + tokens > limit:
            return (
                f"token budget: this call may use up to {tokens} tokens; "
                f"{spent} spent and {self.reserved_tokens} reserved of {limit}"
            )
        cap = self.budget.max_cost_usd
        if cap is not None and usage.cost_usd + self.reserved_usd + usd > cap:
            return (
                f"cost budget: this call may cost up to ${usd:.4f}; "
                f"${usage.cost_usd:.4f} spent and ${self.reserved_usd:.4f} reserved "
                f"of ${cap}"
            )
        self.reserved_tokens += tokens
        self.reserved_usd += usd
        return None

    def release(self, tokens: int, usd: float) -> None:
        """A call ended: its reservation goes (what it spent is in the usage now). The
        caller holds the lock."""
        self.reserved_tokens -= tokens
        self.reserved_usd -= usd
