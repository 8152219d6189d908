"""The openhands backend end to end: the real OpenHands SDK (and litellm inside it) against
a fake OpenAI chat-completions API on 127.0.0.1 that plays a scripted tool-calling agent.
Runs in the Python 3.12 environment that scripts/test_openhands.sh builds (no torch)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sia_core.testing.backend_checks import (
    Script,
    check_failed_generations,
    check_three_generations,
    check_unknown_algorithm,
    gold_task,
    happy_script,
    next_step,
    task_model_reply,
    unknown_algorithm_script,
)
from sia_core.testing.cli import run_sia as sia
from sia_core.testing.fakes import FakeOpenAI

pytest.importorskip(
    "openhands.sdk", reason="needs Python >= 3.12: scripts/test_openhands.sh runs these tests"
)
pytestmark = pytest.mark.slow


def openai_agent(script: Script) -> Callable[[dict[str, Any]], Any]:
    """The scripted agent, speaking chat completions with tool calls to our tools."""

    def reply(body: dict[str, Any]) -> Any:
        step = next_step(script, body.get("messages", []))
        if step is None:
            return "ok"
        if step.kind == "text":
            return {"tool_calls": [{"name": "finish", "arguments": {"message": step.content}}]}
        if step.kind == "trial":
            return {"tool_calls": [{"name": "run_sample", "arguments": {"items": 3}}]}
        if step.kind == "list_outside":
            return {"tool_calls": [{"name": "list_files", "arguments": {"path": step.path}}]}
        if step.kind == "write":
            call = {"name": "write_file", "arguments": {"path": step.path, "content": step.content}}
            return {"tool_calls": [call]}
        path = step.path if step.kind == "read" else "../../../../etc/hostname"
        return {"tool_calls": [{"name": "read_file", "arguments": {"path": path}}]}

    return reply


@pytest.fixture
def task_model():
    with FakeOpenAI(reply=task_model_reply) as provider:
        yield provider


def run_openhands(
    tmp_path: Path, agent: FakeOpenAI, task_model: FakeOpenAI, *extra: str, gens: int = 3
) -> tuple[Any, Path]:
    task = gold_task(tmp_path / "task")
    result = sia(
        "run",
        "--task-dir",
        str(task),
        "--backend",
        "openhands",
        "--max-gen",
        str(gens),
        "--meta-model",
        "openai/fake-coder",
        "--backend-opt",
        f"api_base={agent.url}",
        "--backend-opt",
        "retry_min_wait=0",
        "--backend-opt",
        "retry_max_wait=1",
        "--task-model",
        "openai/fake",
        "--task-model-base",
        task_model.url,
        "--run-id",
        "o",
        "--runs-dir",
        str(tmp_path / "runs"),
        *extra,
        env={"OPENAI_API_KEY": "sk-fake", "OPENHANDS_SUPPRESS_BANNER": "1"},
        timeout=600,
    )
    return result, tmp_path / "runs" / "run_o"


def test_three_generations_with_openhands(tmp_path: Path, task_model: FakeOpenAI) -> None:
    with FakeOpenAI(agent=openai_agent(happy_script)) as agent:
        result, run = run_openhands(tmp_path, agent, task_model)
    assert result.returncode == 0, result.stderr
    sent = json.dumps(agent.requests, ensure_ascii=False)
    record = check_three_generations(run, "openhands", sent)
    assert sent.count("outside the workspace") >= 2  # a read and a listing, both refused
    # litellm has no price for a local model: said so, not $0.
    assert all(s["cost_usd"] == "unknown" for s in record["agent_sessions"])
    assert record["agent_usage"]["sessions_without_price"] == 3


def test_unknown_algorithm_is_sent_back_then_falls_back(
    tmp_path: Path, task_model: FakeOpenAI
) -> None:
    with FakeOpenAI(agent=openai_agent(unknown_algorithm_script)) as agent:
        result, run = run_openhands(tmp_path, agent, task_model)
    assert result.returncode == 0, result.stderr
    check_unknown_algorithm(run, "openhands", json.dumps(agent.requests, ensure_ascii=False))


def test_a_429_a_cut_reply_and_a_timeout_are_retried(
    tmp_path: Path, task_model: FakeOpenAI
) -> None:
    script = openai_agent(happy_script)
    with FakeOpenAI(agent=script, statuses=[429], garbled=1, stalled=1, stall_s=60) as agent:
        started = time.monotonic()
        result, run = run_openhands(
            tmp_path, agent, task_model, "--backend-opt", "request_timeout_s=2", gens=1
        )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60  # the stalled call was abandoned, not awaited
    assert agent.garbled == 0 and agent.stalled == 0 and not agent.statuses  # all served
    assert json.loads((run / "gen_1" / "generation.json").read_text())["status"] == "ok"


def test_a_provider_that_always_fails(tmp_path: Path, task_model: FakeOpenAI) -> None:
    with FakeOpenAI(agent=openai_agent(happy_script), always=500) as agent:
        result, run = run_openhands(
            tmp_path, agent, task_model, "--backend-opt", "max_retries=1", gens=2
        )
    assert result.returncode == 3, result.stderr  # nothing scored
    check_failed_generations(run)


def test_no_model_stops_the_run_with_the_reason(tmp_path: Path) -> None:
    task = gold_task(tmp_path / "task")
    result = sia(
        "run",
        "--task-dir",
        str(task),
        "--backend",
        "openhands",
        "--run-id",
        "n",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 3, result.stderr  # nothing scored
    record = json.loads((tmp_path / "runs" / "run_n" / "run.json").read_text())
    assert record["status"] == "stopped" and "--meta-model" in record["stop_reason"]
