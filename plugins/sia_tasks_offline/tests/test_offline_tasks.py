"""The offline tasks: fixed data, their evaluator, and their reference harness."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sia_tasks_offline import build

from sia_core.loop.generation_loop import RunConfig, resolve_task


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    ("name", "train", "test"), [("sentiment", 400, 100), ("arithmetic", 600, 300)]
)
def test_tasks_resolve_with_fixed_data(name: str, train: int, test: int, tmp_path: Path) -> None:
    assert not build.is_built(name)
    task = resolve_task(RunConfig(task=name))
    assert build.is_built(name) and task.name == name
    assert len(rows(task.public_dir / "train.csv")) == train
    assert len(rows(task.public_dir / "test.csv")) == test
    assert task.config.validation is not None and task.config.task_model == "gemma3-270m"
    again = tmp_path / "again"
    build.generate(name, again)  # the same seed gives the same data
    assert rows(again / "data" / "private" / "answers.csv") == rows(
        task.private_dir / "answers.csv"
    )
    assert "answer" not in rows(task.public_dir / "test.csv")[0]
    assert task.config.shards is not None and task.config.shards.outputs == ("predictions.csv",)
    # A task built by an older plugin gets the installed plugin's own files on next use.
    (task.root / "task.toml").write_text("[task]\nname = 'stale'\n")
    (task.public_dir / "evaluate.py").write_text("raise SystemExit(1)\n")
    task = resolve_task(RunConfig(task=name))
    assert task.name == name and task.config.shards is not None
    assert (task.public_dir / "evaluate.py").read_text() == (
        build.FILES / "evaluate_exact.py"
    ).read_text()


def test_sentiment_is_mostly_negated_and_balanced() -> None:
    task = resolve_task(RunConfig(task="sentiment"))
    data = rows(task.public_dir / "train.csv")
    negated = sum(
        any(w in r["review"] for w in ("not", "far from", "anything but", "Nobody")) for r in data
    )
    assert negated / len(data) > 0.6
    positive = sum(r["answer"] == "positive" for r in data) / len(data)
    assert 0.4 < positive < 0.6


def test_arithmetic_answers_are_right() -> None:
    task = resolve_task(RunConfig(task="arithmetic"))
    for row in rows(task.public_dir / "train.csv")[:50]:
        a, op, b = row["problem"].split()
        assert int(row["answer"]) == (int(a) + int(b) if op == "+" else int(a) - int(b))


def evaluate(task_dir: Path, gen: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(task_dir / "data" / "public" / "evaluate.py"), "--gen-dir", str(gen)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("name", ["sentiment", "arithmetic"])
def test_evaluator_perfect_empty_and_malformed(name: str, tmp_path: Path) -> None:
    task = resolve_task(RunConfig(task=name))
    answers = rows(task.private_dir / "answers.csv")
    perfect = tmp_path / "perfect"
    perfect.mkdir()
    with (perfect / "predictions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "answer"])
        writer.writerows([r["id"], r["answer"]] for r in answers)
    assert evaluate(task.root, perfect).returncode == 0
    results = json.loads((perfect / "results.json").read_text())
    assert results["summary"]["accuracy"] == 1.0
    gold = {r["answer"] for r in answers}
    assert all(set(item) == {"id", "status"} for item in results["items"])
    assert not gold & {item["status"] for item in results["items"]}
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "predictions.csv").write_text("id,answer\n")
    assert evaluate(task.root, empty).returncode == 0
    assert json.loads((empty / "results.json").read_text())["summary"]["accuracy"] == 0.0
    missing = tmp_path / "missing"
    missing.mkdir()
    result = evaluate(task.root, missing)
    assert result.returncode != 0 and "no predictions.csv" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sentiment", "arithmetic"])
def test_reference_harness_runs_against_a_fake_model(name: str, tmp_path: Path) -> None:
    from sia_core.execution.evaluation import run_evaluator
    from sia_core.gateway.server import Gateway
    from sia_core.policy.models import LiteLLMModel
    from sia_core.sandbox.api import SandboxJob
    from sia_core.sandbox.local import LocalSandbox
    from sia_core.testing.fakes import FakeOpenAI

    task = resolve_task(RunConfig(task=name))
    answer = "positive" if name == "sentiment" else "42"
    with FakeOpenAI(reply=lambda messages: f" {answer}\n") as provider:
        model = LiteLLMModel("openai/fake", api_base=provider.url, api_key="sk-fake")
        with Gateway(model, tmp_path / "out" / "calls.jsonl") as gateway:
            result = LocalSandbox().run(
                SandboxJob(
                    agent_file=task.reference_agent,
                    dataset_dir=task.public_dir,
                    output_dir=tmp_path / "out",
                    python=sys.executable,
                    timeout_s=120,
                    memory_mb=4096,
                    max_processes=64,
                    gateway=gateway.link(),
                    hidden_paths=(task.root,),
                )
            )
        assert result.ok, result.stderr_tail
        assert provider.requests[0]["stop"] == ["\n"]
    calls = [
        json.loads(line) for line in (tmp_path / "out" / "calls.jsonl").read_text().splitlines()
    ]
    test_ids = {r["id"] for r in rows(task.public_dir / "test.csv")}
    assert {c["item_id"] for c in calls} == test_ids
    evaluation = run_evaluator(task, tmp_path / "out")
    expected = sum(r["answer"] == answer for r in rows(task.private_dir / "answers.csv"))
    assert evaluation.score == pytest.approx(expected / len(test_ids))


def test_sia_tasks_lists_them_with_their_state(cache: Path) -> None:
    from sia_core.testing.cli import run_sia as sia

    before = sia("tasks", env={"SIA_CACHE_DIR": str(cache)})
    assert before.returncode == 0
    line = next(x for x in before.stdout.splitlines() if "sentiment" in x)
    assert "offline" in line and "prepared on first use" in line
    resolve_task(RunConfig(task="sentiment"))
    after = sia("tasks", env={"SIA_CACHE_DIR": str(cache)})
    line = next(x for x in after.stdout.splitlines() if "sentiment" in x)
    assert "ready" in line
