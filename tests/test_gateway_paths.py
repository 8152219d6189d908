"""The gateway's two paths, forwarded as it is (passthrough) and translated (litellm),
against the same fake provider: the same calls.jsonl records, item ids, budgets,
streams, errors and scrubbing; and 256 connections at once all served."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from sia_core.gateway.server import Budget, Gateway
from sia_core.gateway.serving import api_model
from sia_core.gateway.upstream import OpenAIWireModel, passthrough_model
from sia_core.policy.models import LiteLLMModel
from sia_core.testing.fakes import FakeOpenAI

PATHS = ("litellm", "passthrough")
# Differ from call to call whatever the path: ids, clocks, timings.
VOLATILE = {"call_id", "ts", "latency_s", "queue_s"}


def task_model(path: str, url: str, **options: Any) -> Any:
    if path == "litellm":
        return LiteLLMModel("openai/fake-model", api_base=url, **options)
    model = passthrough_model("openai/fake-model", url, **options)
    assert isinstance(model, OpenAIWireModel)
    return model


def scripted(body: dict[str, Any]) -> str | dict[str, Any]:
    text = body["messages"][-1]["content"]
    if text.startswith("use the tool"):
        return {"content": "", "tool_calls": [{"name": "lookup", "arguments": {"q": "x y"}}]}
    return f"echo: {text}"


def stable(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in VOLATILE}
    for message in out.get("response") or []:
        for call in (message or {}).get("tool_calls") or []:
            call.pop("id", None)  # the fake draws a new one per call
    return out


def run_script(path: str, tmp: Path, secret: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """The same calls on one path: what the agent saw, and what was logged."""
    seen: list[Any] = []
    with FakeOpenAI(agent=scripted, statuses=[200] * 8 + [400]) as provider:
        model = task_model(path, provider.url, max_retries=0)
        log = tmp / f"{path}.jsonl"
        with Gateway(model, log) as gateway:
            client = openai.OpenAI(base_url=gateway.url, api_key=gateway.token, max_retries=0)

            def ask(text: str, **extra: Any) -> Any:
                return client.chat.completions.create(
                    model="anything", messages=[{"role": "user", "content": text}], **extra
                )

            reply = ask("one two", extra_headers={"X-SIA-Item": "h1"}, max_tokens=20)
            seen.append(reply.choices[0].message.content)
            seen.append(ask("three", metadata={"item_id": "m1"}).choices[0].message.content)
            seen.append(ask("four five", user="u1", temperature=0.5).choices[0].message.content)
            tool = ask("use the tool", user="t1").choices[0].message.tool_calls[0]
            seen.append((tool.function.name, json.loads(tool.function.arguments)))
            for item, usage in (("s1", False), ("s2", True)):
                extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if usage else {}
                chunks = list(ask("stream these words", stream=True, user=item, **extra))
                text = "".join(
                    c.choices[0].delta.content or "" for c in chunks if c.choices
                ).strip()
                usages = [c.usage.completion_tokens for c in chunks if c.usage]
                seen.append((text, usages))
            chunks = list(ask("use the tool", stream=True, user="t2"))
            calls = [
                call
                for c in chunks
                if c.choices and c.choices[0].delta.tool_calls
                for call in c.choices[0].delta.tool_calls
            ]
            seen.append((calls[0].function.name, json.loads(calls[0].function.arguments)))
            seen.append(ask(f"say {secret}", user="k1").choices[0].message.content)
            with pytest.raises(openai.BadRequestError) as error:
                ask("refused upstream", user="e1")
            seen.append(error.value.status_code)
        assert [r["model"] for r in provider.requests] == ["fake-model"] * 9
    return [json.loads(line) for line in log.read_text().splitlines()], seen


def test_both_paths_log_the_same_calls_and_answer_the_same(tmp_path, monkeypatch) -> None:
    secret = "sk-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    records = {}
    answers = {}
    for path in PATHS:
        records[path], answers[path] = run_script(path, tmp_path, secret)
    assert answers["passthrough"] == answers["litellm"]
    assert answers["passthrough"][:3] == ["echo: one two", "echo: three", "echo: four five"]
    assert answers["passthrough"][3] == ("lookup", {"q": "x y"})
    # Usage reaches a streaming agent only when it asked for it; it is counted either way.
    assert answers["passthrough"][4] == ("echo: stream these words", [])
    assert answers["passthrough"][5] == ("echo: stream these words", [4])
    assert answers["passthrough"][6] == ("lookup", {"q": "x y"})
    assert answers["passthrough"][7] == "echo: say [redacted]"
    assert answers["passthrough"][8] == 400
    litellm, forwarded = records["litellm"], records["passthrough"]
    assert [r["item_id"] for r in forwarded] == ["h1", "m1", "u1", "t1", "s1", "s2", "t2"] + [
        "k1",
        "e1",
    ]
    assert [r["status"] for r in forwarded] == ["ok"] * 8 + ["error"]
    assert forwarded[4]["completion_tokens"] == 4 and forwarded[4]["prompt_tokens"] == 3
    differences = [
        (key, mine.get(key), theirs.get(key))
        for mine, theirs in zip(forwarded[:8], litellm[:8], strict=True)
        for key in set(stable(mine)) | set(stable(theirs))
        if stable(mine).get(key) != stable(theirs).get(key)
    ]
    assert differences == []
    # Errors differ in wording only (litellm names its exception classes).
    assert forwarded[8]["http_status"] == litellm[8]["http_status"] == 400
    assert "fake status 400" in forwarded[8]["error"] and "fake status 400" in litellm[8]["error"]
    assert secret not in (tmp_path / "passthrough.jsonl").read_text()


@pytest.mark.parametrize("path", PATHS)
def test_budgets_hold_on_both_paths(path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider")
    request = {"messages": [{"role": "user", "content": "question"}], "max_tokens": 20}
    with FakeOpenAI(latency_s=0.2) as provider:
        model = task_model(path, provider.url, max_retries=0)
        # Worst case per call is prompt bytes + 20; a call uses 1 + 2 tokens.
        budget = Budget(max_tokens=200)
        with Gateway(model, tmp_path / "calls.jsonl", budget=budget, concurrency=64) as gateway:
            statuses = asyncio.run(hammer(gateway, 40, body=request))
            usage = gateway.usage.as_dict()
    ok = statuses.count(200)
    assert ok + statuses.count(402) == 40 and 1 <= ok <= 5
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= 200
    assert len(provider.requests) == ok == usage["calls"]


async def hammer(gateway: Gateway, count: int, body: dict[str, Any] | None = None) -> list[int]:
    """`count` calls at once, each on its own connection, each with its item id."""
    headers = {"Authorization": f"Bearer {gateway.token}"}
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int) -> int:
            payload = body or {"messages": [{"role": "user", "content": f"item {i}"}]}
            async with session.post(
                f"{gateway.url}/chat/completions", json=payload, headers={"X-SIA-Item": str(i)}
            ) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_256_connections_at_once_are_all_served(tmp_path) -> None:
    with FakeOpenAI(latency_s=0.3) as provider:
        model = task_model("passthrough", provider.url)
        with Gateway(model, tmp_path / "calls.jsonl", concurrency=256) as gateway:
            statuses = asyncio.run(hammer(gateway, 256))
            usage = gateway.usage.as_dict()
    assert statuses == [200] * 256
    assert usage["calls"] == 256 and usage["items"] == 256
    # Really at once, not one after another behind a thread pool.
    assert provider.max_in_flight > 64
    records = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert sorted(int(r["item_id"]) for r in records) == list(range(256))


def test_which_models_are_forwarded(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-one")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = api_model("openai/gpt-4o-mini", None)
    assert isinstance(model, OpenAIWireModel)
    assert model.base_url == "https://api.openai.com/v1" and model.api_key == "sk-one"
    assert model.upstream_model == "gpt-4o-mini"
    # Priced from litellm's table without importing litellm on the request path.
    assert model.price(1_000_000, 0) == pytest.approx(0.15)
    served = api_model("openai/qwen2.5", "http://127.0.0.1:8000/v1/")
    assert isinstance(served, OpenAIWireModel) and served.base_url == "http://127.0.0.1:8000/v1"
    assert served.price(10, 10) is None  # unknown price stays unknown, never $0
    assert isinstance(api_model("anthropic/claude-sonnet-4-5", None), LiteLLMModel)
    assert isinstance(api_model("hosted_vllm/x", None), LiteLLMModel)  # no server named
    monkeypatch.setenv("SIA_GATEWAY_PASSTHROUGH", "0")
    assert isinstance(api_model("openai/gpt-4o-mini", None), LiteLLMModel)


def test_an_unreachable_provider_is_a_502_logged(tmp_path) -> None:
    model = passthrough_model("openai/x", "http://127.0.0.1:9/v1", max_retries=1)
    with Gateway(model, tmp_path / "calls.jsonl") as gateway:
        client = openai.OpenAI(base_url=gateway.url, api_key=gateway.token, max_retries=0)
        with pytest.raises(openai.InternalServerError) as error:
            client.chat.completions.create(model="x", messages=[{"role": "user", "content": "a"}])
    assert error.value.status_code == 502 and "unreachable" in error.value.message
    record = json.loads((tmp_path / "calls.jsonl").read_text())
    assert record["status"] == "error" and record["http_status"] == 502
