"""The claude backend end to end: the real Claude Agent SDK and its bundled Claude Code CLI,
pointed at a fake Anthropic Messages API (streaming) on 127.0.0.1 that plays a scripted
agent; the task model is a fake OpenAI-compatible provider behind the gateway."""

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
    workspace_of,
)
from sia_core.testing.cli import run_sia as sia
from sia_core.testing.fakes import FakeAnthropic, FakeOpenAI

pytestmark = pytest.mark.slow


def anthropic_agent(script: Script) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """The scripted agent, speaking the Messages API with Claude Code's tools."""

    def reply(body: dict[str, Any]) -> list[dict[str, Any]]:
        step = next_step(script, body.get("messages", []))
        if step is None:
            return [{"type": "text", "text": "ok"}]  # a side request of the CLI
        workspace = workspace_of(json.dumps(body, ensure_ascii=False))
        if step.kind == "text":
            return [{"type": "text", "text": step.content}]
        if step.kind == "trial":
            return [{"type": "tool_use", "name": "mcp__sia__run_sample", "input": {"items": 3}}]
        if step.kind == "list_outside":
            return [{"type": "tool_use", "name": "Glob", "input": {"pattern": step.path + "/*"}}]
        path = f"{workspace}/{step.path}"
        if step.kind == "write":
            tool_input = {"file_path": path, "content": step.content}
            return [{"type": "tool_use", "name": "Write", "input": tool_input}]
        return [{"type": "tool_use", "name": "Read", "input": {"file_path": path}}]

    return reply


@pytest.fixture
def task_model():
    with FakeOpenAI(reply=task_model_reply) as provider:
        yield provider


def run_claude(
    tmp_path: Path, fake: FakeAnthropic, task_model: FakeOpenAI, *extra: str, gens: int = 3
) -> tuple[Any, Path]:
    task = gold_task(tmp_path / "task")
    env = {
        "ANTHROPIC_BASE_URL": fake.url,
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"),
        "OPENAI_API_KEY": "sk-fake",
    }
    result = sia(
        "run",
        "--task-dir",
        str(task),
        "--backend",
        "claude",
        "--max-gen",
        str(gens),
        "--task-model",
        "openai/fake",
        "--task-model-base",
        task_model.url,
        "--run-id",
        "c",
        "--runs-dir",
        str(tmp_path / "runs"),
        *extra,
        env=env,
        timeout=600,
    )
    return result, tmp_path / "runs" / "run_c"


def requests_text(fake: FakeAnthropic) -> str:
    return json.dumps(fake.requests, ensure_ascii=False)


def test_three_generations_with_claude(tmp_path: Path, task_model: FakeOpenAI) -> None:
    with FakeAnthropic(anthropic_agent(happy_script)) as fake:
        result, run = run_claude(tmp_path, fake, task_model)
    assert result.returncode == 0, result.stderr
    sent = requests_text(fake)
    record = check_three_generations(run, "claude", sent)
    assert "outside the workspace" in sent  # its read of a path outside was refused
    assert "leaves the workspace" in sent  # and so was its listing of /etc
    sessions = record["agent_sessions"]
    assert all(s["model"].startswith("claude-haiku") for s in sessions)  # the alias, resolved
    assert all(s["output_tokens"] > 0 for s in sessions)
    assert all(isinstance(s["cost_usd"], float) or s["cost_usd"] == "unknown" for s in sessions)


def test_unknown_algorithm_is_sent_back_then_falls_back(
    tmp_path: Path, task_model: FakeOpenAI
) -> None:
    with FakeAnthropic(anthropic_agent(unknown_algorithm_script)) as fake:
        result, run = run_claude(tmp_path, fake, task_model)
    assert result.returncode == 0, result.stderr
    check_unknown_algorithm(run, "claude", requests_text(fake))


def test_a_429_a_cut_reply_and_a_timeout_are_retried(
    tmp_path: Path, task_model: FakeOpenAI
) -> None:
    agent = anthropic_agent(happy_script)
    with FakeAnthropic(agent, statuses=[429], garbled=1, stalled=1, stall_s=60) as fake:
        started = time.monotonic()
        result, run = run_claude(
            tmp_path, fake, task_model, "--backend-opt", "request_timeout_s=2", gens=1
        )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60  # the stalled call was abandoned, not awaited
    assert fake.garbled == 0 and fake.stalled == 0 and not fake.statuses  # all served
    generation = json.loads((run / "gen_1" / "generation.json").read_text())
    assert generation["status"] == "ok"
    assert "version 1" in (run / "gen_1" / "target_agent.py").read_text()


def test_a_provider_that_always_fails(tmp_path: Path, task_model: FakeOpenAI) -> None:
    with FakeAnthropic(anthropic_agent(happy_script), always=500) as fake:
        result, run = run_claude(
            tmp_path, fake, task_model, "--backend-opt", "max_retries=1", gens=2
        )
    assert result.returncode == 3, result.stderr  # nothing scored
    check_failed_generations(run)
    assert len(fake.requests) >= 2  # retried before giving up


def test_the_turn_cap_stops_an_agent(tmp_path: Path, task_model: FakeOpenAI) -> None:
    # The scripted Meta-Agent writes its harness on its third turn; two are allowed.
    with FakeAnthropic(anthropic_agent(happy_script)) as fake:
        result, run = run_claude(tmp_path, fake, task_model, "--backend-opt", "max_turns=2", gens=1)
    assert result.returncode == 3, result.stderr  # nothing scored
    generation = json.loads((run / "gen_1" / "generation.json").read_text())
    assert generation["status"] == "failed"
    assert "wrote no target_agent.py (turn cap of 2 reached)" in generation["error"]
