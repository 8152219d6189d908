"""The model gateway: a sandboxed agent reaches a fake provider on loopback through
litellm; calls are logged with item ids; budget, token and concurrency are enforced."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import httpx
import openai
import pytest

from sia_core.gateway.admission import worst_case_tokens
from sia_core.gateway.server import Budget, Gateway
from sia_core.policy.models import LiteLLMModel
from sia_core.sandbox.api import SandboxJob
from sia_core.sandbox.local import LocalSandbox
from sia_core.testing.fakes import FakeOpenAI

AGENT = """
import argparse, os
from openai import OpenAI
p = argparse.ArgumentParser(); p.add_argument("--dataset_dir"); p.add_argument("--working_dir")
a = p.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"],
                max_retries=0)
lines = []
for i in range(6):
    try:
        r = client.chat.completions.create(
            model=os.environ["SIA_MODEL"],
            messages=[{"role": "user", "content": f"question {i} one two three"}],
            max_tokens=10, extra_headers={os.environ["SIA_ITEM_HEADER"]: f"item-{i}"})
        lines.append(f"item-{i} ok {r.choices[0].message.content}")
    except Exception as exc:
        lines.append(f"item-{i} refused {getattr(exc, 'status_code', exc)}")
open(os.path.join(a.working_dir, "answers.txt"), "w").write("\\n".join(lines))
print("key visible:", "sk-provider-secret" in str(os.environ))
"""


def read_calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sandboxed_agent_reaches_fake_provider_through_litellm(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider-secret")
    (tmp_path / "data").mkdir()
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    with FakeOpenAI() as provider:
        model = LiteLLMModel("openai/fake-model", api_base=provider.url)
        # Each call costs 5 prompt + 6 completion tokens, and is admitted only while its
        # worst case fits: this budget admits three calls one after another.
        worst = worst_case_tokens(
            {
                "messages": [{"role": "user", "content": "question 0 one two three"}],
                "max_tokens": 10,
            }
        )
        budget = Budget(max_tokens=33 + worst - 1)
        with Gateway(model, tmp_path / "calls.jsonl", budget=budget) as gateway:
            result = LocalSandbox().run(
                SandboxJob(
                    agent_file=agent,
                    dataset_dir=tmp_path / "data",
                    output_dir=tmp_path / "out",
                    python=sys.executable,
                    timeout_s=60,
                    memory_mb=2048,
                    max_processes=64,
                    gateway=gateway.link(),
                    env={"SIA_ITEM_HEADER": "X-SIA-Item"},
                    hidden_paths=(tmp_path / "data",),
                )
            )
            usage = gateway.usage.as_dict()
        assert result.ok, result.stderr_tail
        assert "key visible: False" in result.stdout_tail
        answers = (tmp_path / "out" / "answers.txt").read_text().splitlines()
        assert answers[0] == "item-0 ok echo: question 0 one two three"
        assert [line.split()[1] for line in answers] == ["ok"] * 3 + ["refused"] * 3
        assert answers[-1].endswith("402")
        # The provider got the key from the parent; the agent only had the gateway token.
        assert len(provider.requests) == 3
        assert provider.requests[0]["model"] == "fake-model"
    calls = read_calls(tmp_path / "calls.jsonl")
    assert [c["item_id"] for c in calls] == [f"item-{i}" for i in range(6)]
    assert [c["status"] for c in calls] == ["ok"] * 3 + ["refused"] * 3
    assert calls[0]["prompt_tokens"] == 5 and calls[0]["completion_tokens"] == 6
    assert calls[0]["response"][0]["content"] == "echo: question 0 one two three"
    assert calls[0]["request"]["messages"][0]["content"] == "question 0 one two three"
    assert calls[0]["latency_s"] > 0
    assert f"this call may use up to {worst} tokens; 33 spent" in calls[3]["error"]
    assert usage["calls"] == 3 and usage["refused"] == 3 and usage["items"] == 3
    assert usage["prompt_tokens"] == 15 and usage["completion_tokens"] == 18
    assert usage["calls_without_price"] == 3  # a fake model has no price: unknown, not $0


@pytest.fixture
def gateway(tmp_path):
    with FakeOpenAI(latency_s=0.2) as provider:
        model = LiteLLMModel("openai/fake-model", api_base=provider.url, api_key="sk-test")
        with Gateway(model, tmp_path / "calls.jsonl", concurrency=2) as gw:
            gw.provider = provider
            yield gw


def test_streaming_reaches_the_agent_in_chunks_and_is_logged(gateway, tmp_path) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.token)
    stream = client.chat.completions.create(
        model=gateway.model_name,
        stream=True,
        metadata={"item_id": "s1"},
        messages=[{"role": "user", "content": "stream these words please"}],
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 3
    assert "".join(pieces).strip() == "echo: stream these words please"
    call = read_calls(tmp_path / "calls.jsonl")[0]
    assert call["item_id"] == "s1" and call["stream"] is True and call["status"] == "ok"
    assert call["completion_tokens"] > 0 and "metadata" not in gateway.provider.requests[0]


def test_wrong_token_is_refused_and_models_are_listed(gateway) -> None:
    bad = openai.OpenAI(base_url=gateway.url, api_key="sk-guess", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
    good = openai.OpenAI(base_url=gateway.url, api_key=gateway.token)
    assert [m.id for m in good.models.list()] == ["openai/fake-model"]
    assert gateway.provider.requests == []


def test_concurrency_cap_holds_calls_back(gateway) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.token)

    def call(i: int) -> None:
        client.chat.completions.create(
            model="m", user=f"item-{i}", messages=[{"role": "user", "content": "hi"}]
        )

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gateway.provider.max_in_flight == 2
    assert gateway.usage.calls == 8 and len(gateway.usage.items) == 8


def test_provider_errors_pass_through_with_their_status(tmp_path) -> None:
    with FakeOpenAI(statuses=[400]) as provider:
        model = LiteLLMModel(
            "openai/fake-model", api_base=provider.url, api_key="sk-test", max_retries=0
        )
        with Gateway(model, tmp_path / "calls.jsonl") as gw:
            response = httpx.post(
                f"{gw.url}/chat/completions",
                headers={"Authorization": f"Bearer {gw.token}"},
                json={"messages": [{"role": "user", "content": "x"}]},
            )
    assert response.status_code == 400
    assert read_calls(tmp_path / "calls.jsonl")[0]["status"] == "error"


def test_no_task_model_answers_503_with_what_to_do(tmp_path) -> None:
    with Gateway(None, tmp_path / "calls.jsonl") as gw:
        response = httpx.post(
            f"{gw.url}/chat/completions",
            headers={"Authorization": f"Bearer {gw.token}"},
            json={"messages": [{"role": "user", "content": "x"}]},
        )
    assert response.status_code == 503
    assert "--task-model" in response.json()["error"]["message"]


def test_a_seed_that_is_not_an_integer_is_a_400(tmp_path) -> None:
    # The local policy seeds a sampled call's draws with it: a harness's 1e400 (inf once
    # parsed), 1.5 or true must not reach it (int(inf) raises there).
    with Gateway(None, tmp_path / "calls.jsonl") as gw:

        def post(seed: str) -> httpx.Response:
            body = '{"messages": [{"role": "user", "content": "x"}], "seed": ' + seed + "}"
            return httpx.post(
                f"{gw.url}/chat/completions",
                content=body.encode(),
                headers={"Authorization": f"Bearer {gw.token}"},
            )

        for bad in ("1e400", "1.5", "true", '"7"'):
            response = post(bad)
            assert response.status_code == 400, bad
            assert "seed must be an integer" in response.json()["error"]["message"]
        assert post("7").status_code == 503  # admitted; this gateway has no model
        assert post(str(2**80)).status_code == 503


def test_bad_request_body_is_a_400(tmp_path) -> None:
    with Gateway(None, tmp_path / "calls.jsonl") as gw:
        response = httpx.post(
            f"{gw.url}/chat/completions",
            content=b"{not json",
            headers={"Authorization": f"Bearer {gw.token}"},
        )
    assert response.status_code == 400
