"""agent_execution.json: what the task agent did, item by item, for the Feedback-Agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sia_core.execution.evaluation import Evaluation
from sia_core.sandbox.api import SandboxResult
from sia_core.store import atomic_write_json

UNTAGGED = "(no item id)"


def read_calls(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    calls = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            calls.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill
    return calls


def group_by_item(calls: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        groups.setdefault(call.get("item_id") or UNTAGGED, []).append(call)
    return groups


def write_agent_execution(out: Path, result: SandboxResult, evaluation: Evaluation) -> None:
    by_item = group_by_item(read_calls(out / "calls.jsonl"))
    outcomes = {item.id: item for item in evaluation.items}
    trajectories = []
    for item_id in sorted(set(by_item) | set(outcomes)):
        outcome = outcomes.get(item_id)
        trajectories.append(
            {
                "item_id": item_id,
                "status": outcome.status if outcome else None,
                "reward": outcome.reward if outcome else None,
                "group": outcome.group if outcome else None,
                "calls": [
                    {
                        k: call.get(k)
                        for k in (
                            "status",
                            "request",
                            "response",
                            "error",
                            "prompt_tokens",
                            "completion_tokens",
                            "latency_s",
                        )
                    }
                    for call in by_item.get(item_id, [])
                ],
            }
        )
    atomic_write_json(
        out / "agent_execution.json",
        {
            "sandbox": {
                "exit_code": result.exit_code,
                "timed_out": result.timed_out,
                "duration_s": round(result.duration_s, 3),
                "reason": result.reason,
                "isolation": result.isolation,
                "violation": result.violation,
                "dropped_outputs": result.dropped,
                "stdout_tail": result.stdout_tail,
                "stderr_tail": result.stderr_tail,
            },
            "evaluation": {
                "score": evaluation.score,
                "error": evaluation.error,
                "items": len(evaluation.items),
            },
            "trajectories": trajectories,
        },
    )


def item_rewards(out: Path) -> dict[str, float]:
    """Per-item rewards of the run whose agent_execution.json is in `out` (the keep rule
    compares two runs item by item)."""
    path = out / "agent_execution.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    rewards = {}
    for t in data.get("trajectories") or []:
        reward = t.get("reward") if isinstance(t, dict) else None
        if isinstance(reward, (int, float)) and not isinstance(reward, bool):
            rewards[str(t.get("item_id"))] = float(reward)
    return rewards
