"""The gateway's books: every call as one line of calls.jsonl (scrubbed of sia's
secrets) and the running Usage its budget is checked against.

A call's record is started when the call is taken in, and finished here once, as
refused, failed or served; a served call is written before its reply is finished, so an
agent that has its answer can rely on the call being in calls.jsonl."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

from sia_core.gateway.admission import scrub
from sia_core.policy.models import ModelError, ModelReply
from sia_core.usage import Usage

MAX_UNKNOWN_ITEMS = 10_000


class CallBook:
    def __init__(
        self,
        log_path: Path,
        model_name: str,
        secrets: tuple[str, ...],
        known_items: set[str] | None,
        lock: threading.Lock,
    ) -> None:
        self.log_path = log_path
        self.model_name = model_name
        self.secrets = secrets
        self._secret_bytes = tuple(s.encode() for s in secrets)
        self.known_items = known_items
        """The split's item ids, when known: a call tagged with another id is logged, but
        counted apart (`unknown_items`), so invented ids do not inflate the item count."""
        self.usage = Usage()
        self.lock = lock
        """Shared with the budget: a reservation and the spending it is checked against
        change together."""
        self._log: IO[str] | None = None

    def open(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")

    def close(self) -> None:
        with self.lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def new_record(self, item_id: str | None, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "call_id": uuid.uuid4().hex[:16],
            "ts": time.time(),
            "item_id": item_id,
            "model": self.model_name,
            "stream": bool(request.get("stream")),
            "request": {k: v for k, v in request.items() if k not in ("stream_options",)},
        }

    def refused(self, record: dict[str, Any], reason: str) -> None:
        """A call the budget would not admit (the caller counted it under the lock)."""
        record.update(status="refused", http_status=402, error=reason)
        self.write(record)

    def failed(self, record: dict[str, Any], exc: ModelError, started: float) -> str:
        """A call the model could not answer; returns the message the agent gets."""
        message = scrub(str(exc), self.secrets)
        record.update(
            status="error",
            http_status=exc.status,
            error=message,
            latency_s=time.monotonic() - started,
        )
        with self.lock:
            self.usage.errors += 1
            self.usage.failed(exc.status, message)
        self.write(record)
        return message

    def served(
        self, record: dict[str, Any], reply: ModelReply, started: float, waited: float
    ) -> None:
        item_id = record["item_id"]
        with self.lock:
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
        self.write(record)

    def clean(self, body: bytes) -> bytes:
        """A reply on its way to the agent, with any of sia's secret values removed."""
        if not any(secret in body for secret in self._secret_bytes):
            return body
        text = body.decode("utf-8", errors="replace")
        return scrub(text, self.secrets, shapes=False).encode()

    def write(self, record: dict[str, Any]) -> None:
        line = scrub(json.dumps(record, default=str), self.secrets, shapes=False) + "\n"
        with self.lock:
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
