"""The trajectory sample a Feedback-Agent reads: chosen for evidence, fitted to a budget.

The original SIA showed the first three trajectories by file name, cut to 1,000
characters. Here failures come first, the sample spreads over (status, group) buckets in
turn, items are ordered by a hash of their id (not by name), and each item is cut so that
several fit in the budget. Only what the harness sent and the model replied is shown,
with the item's status, group and reward: never an answer from the evaluator.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from sia_core.execution.evaluation import SUCCESS_STATUSES

CHARS_PER_TOKEN = 4


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = max(limit // 2 - 20, 10)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def _failed(trajectory: dict[str, Any]) -> bool:
    status = str(trajectory.get("status") or "").lower()
    reward = trajectory.get("reward")
    if isinstance(reward, (int, float)) and not isinstance(reward, bool):
        return status not in SUCCESS_STATUSES and reward < 1.0
    return status not in SUCCESS_STATUSES


def _order(trajectories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failures first; within each, round-robin over (status, group) buckets."""

    def key(t: dict[str, Any]) -> str:
        return hashlib.sha1(str(t.get("item_id")).encode()).hexdigest()

    ordered: list[dict[str, Any]] = []
    for failing in (True, False):
        buckets: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for t in trajectories:
            if _failed(t) == failing:
                buckets[(str(t.get("status")), str(t.get("group")))].append(t)
        queues = [sorted(items, key=key) for _, items in sorted(buckets.items())]
        while any(queues):
            for queue in queues:
                if queue:
                    ordered.append(queue.pop(0))
    return ordered


def render_item(trajectory: dict[str, Any], limit: int) -> str:
    head = f"### item {trajectory.get('item_id')} — status {trajectory.get('status')}"
    if trajectory.get("group"):
        head += f", group {trajectory['group']}"
    if trajectory.get("reward") is not None:
        head += f", reward {trajectory['reward']:g}"
    parts = [head]
    calls = trajectory.get("calls") or []
    if not calls:
        parts.append("(no model call was made for this item)")
    for number, call in enumerate(calls, 1):
        messages = (call.get("request") or {}).get("messages") or []
        prompt = "\n".join(f"[{m.get('role')}] {_text(m.get('content'))}" for m in messages)
        replies = call.get("response") or []
        reply = "\n".join(_text(r.get("content") if isinstance(r, dict) else r) for r in replies)
        parts.append(f"call {number}:\n--- prompt ---\n{prompt}\n--- reply ---\n{reply}")
        if call.get("error"):
            parts.append(f"error: {call['error']}")
    return _cut("\n".join(parts), limit)


def sample(execution: dict[str, Any], budget_tokens: int) -> tuple[str, list[str]]:
    """Markdown of the chosen trajectories, and their item ids, within `budget_tokens`."""
    trajectories = [t for t in execution.get("trajectories", []) if isinstance(t, dict)]
    if not trajectories:
        return "(this generation left no trajectories)", []
    budget = budget_tokens * CHARS_PER_TOKEN
    per_item = max(800, budget // 6)
    chosen, blocks, used = [], [], 0
    for trajectory in _order(trajectories):
        block = render_item(trajectory, per_item)
        if used + len(block) > budget:
            if blocks:
                break
            block = block[:budget]
        blocks.append(block)
        chosen.append(str(trajectory.get("item_id")))
        used += len(block) + 2
    counts: dict[str, int] = defaultdict(int)
    for t in trajectories:
        counts[str(t.get("status"))] += 1
    header = (
        f"{len(chosen)} of {len(trajectories)} items shown (failures first, spread over "
        f"statuses and groups); statuses: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    return header + "\n\n" + "\n\n".join(blocks), chosen
