"""The original SIA tasks: data source, evaluators on a fixture, the real data end to end."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from original_fixture import write_original_tasks
from sia_tasks_original import build as builder
from sia_tasks_original import source as sources

from sia_core.loop.generation_loop import RunConfig, resolve_task
from sia_core.tasks.task import Task, load_task_dir

NAMES = ("gpqa", "lawbench", "longcot-chess", "spaceship-titanic")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(sources.ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def fixture_tasks(tmp_path: Path) -> dict[str, Task]:
    source = sources.from_path(write_original_tasks(tmp_path / "orig"))
    return {name: load_task_dir(builder.build(name, source)) for name in NAMES}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, header: list[str], body: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)


def perfect(task: Task, gen: Path) -> None:
    """The submission a perfect harness writes, in the format task.md asks for."""
    private = task.private_dir
    if task.name == "gpqa":
        gold = json.loads((private / "diamond_questions.json").read_text())
        details = [
            {"question_id": q["id"], "model_answer": q["correct_answer_letter"]} for q in gold
        ]
        (gen / "submission.json").write_text(json.dumps({"details": details}))
    elif task.name == "lawbench":
        body = [[r["id"], r["label"]] for r in rows(private / "test.csv")]
        write_csv(gen / "submission.csv", ["id", "label"], body)
    elif task.name == "longcot-chess":
        gold = json.loads((private / "answers.json").read_text())
        answers = [
            {"question_id": k, "solution": v if isinstance(v, list) else int(v)}
            for k, v in gold.items()
        ]
        (gen / "responses.json").write_text(json.dumps(answers))
    else:
        body = [[r["PassengerId"], r["Transported"]] for r in rows(private / "test.csv")]
        write_csv(gen / "submission.csv", ["PassengerId", "Transported"], body)


def empty(task: Task, gen: Path) -> None:
    if task.name == "gpqa":
        (gen / "submission.json").write_text('{"details": []}')
    elif task.name == "lawbench":
        (gen / "submission.csv").write_text("id,label\n")
    elif task.name == "longcot-chess":
        (gen / "responses.json").write_text("[]")
    else:
        (gen / "submission.csv").write_text("PassengerId,Transported\n")


MALFORMED: dict[str, tuple[str, str, str]] = {
    # task: (file, content, what the error line says)
    "gpqa": ("submission.json", "{not json", "not valid JSON"),
    "lawbench": ("submission.csv", "case,charge\n0,盗窃\n", "no 'id' column"),
    "longcot-chess": ("responses.json", '{"question_id": 1}', "must be a JSON list"),
    "spaceship-titanic": ("submission.csv", "id,label\n1,True\n", "PassengerId,Transported"),
}


def evaluate(task: Task, gen: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(task.evaluator), "--gen-dir", str(gen)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def gold_values(task: Task) -> set[str]:
    private = task.private_dir
    if task.name == "gpqa":
        return {
            q["correct_answer_letter"]
            for q in json.loads((private / "diamond_questions.json").read_text())
        }
    if task.name == "longcot-chess":
        found: set[str] = set()
        for v in json.loads((private / "answers.json").read_text()).values():
            found |= set(v) if isinstance(v, list) else {v}
        return found
    column = "label" if task.name == "lawbench" else "Transported"
    return {r[column] for r in rows(private / "test.csv")}


def assert_no_gold_in_items(task: Task, results: dict) -> None:
    gold = gold_values(task)
    for item in results["items"]:
        assert set(item) <= {"id", "status", "group"}
        assert not gold & {str(item.get("status")), str(item.get("group"))}


@pytest.mark.parametrize("name", NAMES)
def test_evaluator_perfect_empty_malformed(
    name: str, fixture_tasks: dict[str, Task], tmp_path: Path
) -> None:
    task = fixture_tasks[name]
    for label, writer, expected in (("perfect", perfect, 1.0), ("empty", empty, 0.0)):
        gen = tmp_path / label
        gen.mkdir()
        writer(task, gen)
        done = evaluate(task, gen)
        assert done.returncode == 0, done.stderr
        results = json.loads((gen / "results.json").read_text())
        assert results["summary"]["accuracy"] == expected
        assert len(results["items"]) == results["summary"]["total"]
        assert_no_gold_in_items(task, results)
    file, content, message = MALFORMED[name]
    bad = tmp_path / "malformed"
    bad.mkdir()
    (bad / file).write_text(content, encoding="utf-8")
    done = evaluate(task, bad)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    done = evaluate(task, nothing)
    assert done.returncode != 0 and "in the working directory" in done.stderr


def test_partial_answers_count_against_the_whole_set(
    fixture_tasks: dict[str, Task], tmp_path: Path
) -> None:
    task = fixture_tasks["gpqa"]
    (tmp_path / "submission.json").write_text(
        json.dumps(
            {"details": [{"question_id": 1, "model_answer": "B"}, {"question_id": 2, "error": "x"}]}
        )
    )
    assert evaluate(task, tmp_path).returncode == 0
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    # 1 right of 3: the original's correct/attempted would say 100%.
    assert summary["accuracy"] == pytest.approx(1 / 3)
    assert summary["accuracy_attempted"] == 1.0
    assert summary["invalid"] == 1 and summary["missing"] == 1


def test_chess_move_lists_match_in_order_or_as_a_set(
    fixture_tasks: dict[str, Task], tmp_path: Path
) -> None:
    task = fixture_tasks["longcot-chess"]
    cases = {
        "reordered": (["bxc4", "c4", "bxc4"], "correct"),
        "short": (["c4", "bxc4"], "wrong"),
        "other": (["c4", "bxc4", "Kd5"], "wrong"),
    }
    for label, (moves, status) in cases.items():
        gen = tmp_path / label
        gen.mkdir()
        responses = [
            {"question_id": "best_3_moves_hard_1", "solution": moves},
            {"question_id": "knight_path_hard_1", "solution": None},
        ]
        (gen / "responses.json").write_text(json.dumps(responses))
        assert evaluate(task, gen).returncode == 0
        items = {i["id"]: i for i in json.loads((gen / "results.json").read_text())["items"]}
        assert items["best_3_moves_hard_1"]["status"] == status
        assert items["best_3_moves_hard_1"]["group"] == "best_3_moves"
        assert items["knight_path_hard_1"]["status"] == "failed"


def test_lawbench_rejects_labels_outside_the_classes(
    fixture_tasks: dict[str, Task], tmp_path: Path
) -> None:
    task = fixture_tasks["lawbench"]
    write_csv(tmp_path / "submission.csv", ["id", "label"], [["0", "故意伤害"], ["1", "盗窃罪"]])
    assert evaluate(task, tmp_path).returncode == 0
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert (summary["correct"], summary["invalid"], summary["missing"]) == (1, 1, 2)


def test_data_from_accepts_a_wheel_an_unpacked_wheel_or_its_tasks_folder(tmp_path: Path) -> None:
    root = write_original_tasks(tmp_path / "orig")
    for path in (root, root / "sia", root / "sia" / "tasks"):
        assert sources.from_path(path).read("gpqa/data/public/diamond_questions.json")
    wheel = tmp_path / sources.WHEEL
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(
            root / "sia/tasks/gpqa/data/public/diamond_questions.json",
            "sia/tasks/gpqa/data/public/diamond_questions.json",
        )
    with pytest.raises(sources.DataError, match="not the published"):
        sources.from_path(wheel)  # a wheel that is not the published one is refused
    with pytest.raises(sources.DataError, match="no original task data there"):
        sources.from_path(tmp_path)


def test_fetch_command_builds_from_data_from_and_tasks_lists_them(
    tmp_path: Path, cache: Path
) -> None:
    from sia_core.testing.cli import run_sia as sia

    root = write_original_tasks(tmp_path / "orig")
    env = {"SIA_CACHE_DIR": str(cache)}
    before = sia("tasks", env=env)
    assert "gpqa" in before.stdout and "ready" not in before.stdout.split("gpqa")[1].splitlines()[0]
    done = sia("original", "fetch", "gpqa", "--data-from", str(root), env=env)
    assert done.returncode == 0, done.stderr
    assert (cache / "tasks" / "original-v1" / "gpqa" / "data" / "public" / "evaluate.py").is_file()
    line = next(x for x in sia("tasks", env=env).stdout.splitlines() if x.startswith("│ gpqa"))
    assert "ready" in line
    bad = sia("original", "fetch", "--data-from", str(tmp_path), env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --data-from")
    assert "Traceback" not in bad.stderr


def test_selection_never_touches_the_test_cases(
    fixture_tasks: dict[str, Task], tmp_path: Path
) -> None:
    from sia_core.tasks.splits import selection_view

    # lawbench ids restart at 0 in each file, so rows are told apart by their text.
    for name, key in (("lawbench", "text"), ("spaceship-titanic", "PassengerId")):
        task = resolve_task(RunConfig(task=name))
        view = selection_view(task, tmp_path / name)
        selected = {r[key] for r in rows(view.public_dir / "test.csv")}
        assert selected and selected <= {r[key] for r in rows(task.public_dir / "train.csv")}
        assert not selected & {r[key] for r in rows(task.public_dir / "test.csv")}
        kept = {r[key] for r in rows(view.public_dir / "train.csv")}
        assert not kept & selected
        # --parallel: shards of the selection view, each with its own submission template.
        from sia_core.tasks.splits import shard_views

        assert task.config.shards is not None
        publics = shard_views(view, task.config.shards, 2, tmp_path / f"{name}-shards")
        parts = [rows(public / "test.csv") for public in publics]
        assert len(parts) == 2 and {r[key] for p in parts for r in p} == selected
        sample = rows(publics[1] / "sample_submission.csv")
        id_column = task.config.validation.id_column
        assert [r[id_column] for r in sample] == [r[id_column] for r in parts[1]]
    assert fixture_tasks["gpqa"].config.shards is None  # its submission is one JSON object


# --- the real data, fetched from PyPI --------------------------------------------------

REAL_SIZES = {
    # task: (input file, number of test items)
    "gpqa": ("diamond_questions.json", 198),
    "lawbench": ("test.csv", 913),
    "longcot-chess": ("chess_hard.json", 50),
    "spaceship-titanic": ("test.csv", 870),
}
FAKE_REPLIES: dict[str, Callable[[str], str]] = {
    "gpqa": lambda prompt: "Thinking.\nAnswer: A",
    "lawbench": lambda prompt: "盗窃",
    "longcot-chess": lambda prompt: (
        "solution = 218" if "knight" in prompt.lower() else 'solution = ["c4", "bxc4", "bxc4"]'
    ),
    "spaceship-titanic": lambda prompt: "True",
}


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("real-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("SIA_CACHE_DIR", str(cache))
    try:
        sources.default_source()
    except sources.DataError as exc:
        if "could not fetch" in str(exc):
            pytest.skip(f"the package index cannot be reached to fetch sia-agent 0.6.0: {exc}")
        raise
    finally:
        mp.undo()
    return cache


def items_of(task: Task, name: str) -> list[str]:
    file = task.public_dir / REAL_SIZES[name][0]
    if file.suffix == ".json":
        data = json.loads(file.read_text("utf-8"))
        return [str(q.get("id", q.get("question_id"))) for q in data]
    return [next(iter(r.values())) for r in rows(file)]


def three_item_dataset(task: Task, name: str, dest: Path) -> list[str]:
    """A copy of the public data whose prediction file holds its first three items."""
    shutil.copytree(task.public_dir, dest)
    file = dest / REAL_SIZES[name][0]
    if file.suffix == ".json":
        data = json.loads(file.read_text("utf-8"))[:3]
        file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return [str(q.get("id", q.get("question_id"))) for q in data]
    with file.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header, body = next(reader), list(reader)[:3]
    write_csv(file, header, body)
    return [r[0] for r in body]


@pytest.mark.slow
def test_real_data_sizes(real_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIA_CACHE_DIR", str(real_cache))
    tasks = {name: resolve_task(RunConfig(task=name)) for name in NAMES}
    for name, (_, count) in REAL_SIZES.items():
        assert len(items_of(tasks[name], name)) == count, name
    law = tasks["lawbench"]
    assert len(json.loads((law.public_dir / "classes.json").read_text("utf-8"))) == 191
    assert len(rows(law.public_dir / "train.csv")) == 5332
    assert len(rows(tasks["spaceship-titanic"].public_dir / "train.csv")) == 7823
    provenance = json.loads((law.root / "provenance.json").read_text())
    assert provenance["sha256"] == sources.SHA256


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_real_data_perfect_and_empty_submissions(
    name: str, real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIA_CACHE_DIR", str(real_cache))
    task = resolve_task(RunConfig(task=name))
    for label, writer, expected in (("perfect", perfect, 1.0), ("empty", empty, 0.0)):
        gen = tmp_path / label
        gen.mkdir()
        writer(task, gen)
        assert evaluate(task, gen).returncode == 0
        results = json.loads((gen / "results.json").read_text())
        assert results["summary"]["accuracy"] == expected
        assert results["summary"]["total"] == REAL_SIZES[name][1]
        assert_no_gold_in_items(task, results)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_real_task_reference_agent_on_three_items(
    name: str, real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sia_core.execution.evaluation import run_evaluator
    from sia_core.gateway.server import Gateway
    from sia_core.policy.models import LiteLLMModel
    from sia_core.sandbox.api import SandboxJob
    from sia_core.sandbox.local import LocalSandbox
    from sia_core.testing.fakes import FakeOpenAI

    monkeypatch.setenv("SIA_CACHE_DIR", str(real_cache))
    task = resolve_task(RunConfig(task=name))
    dataset = tmp_path / "dataset"
    ids = three_item_dataset(task, name, dataset)
    reply = FAKE_REPLIES[name]
    out = tmp_path / "out"
    with FakeOpenAI(reply=lambda messages: reply(str(messages[-1]["content"]))) as provider:
        model = LiteLLMModel("openai/fake", api_base=provider.url, api_key="sk-fake")
        with Gateway(model, out / "calls.jsonl") as gateway:
            result = LocalSandbox().run(
                SandboxJob(
                    agent_file=task.reference_agent,
                    dataset_dir=dataset,
                    output_dir=out,
                    python=sys.executable,
                    timeout_s=120,
                    memory_mb=4096,
                    max_processes=64,
                    gateway=gateway.link(),
                    hidden_paths=(task.root,),
                )
            )
    assert result.ok, result.stderr_tail
    calls = [json.loads(x) for x in (out / "calls.jsonl").read_text().splitlines()]
    assert sorted(c["item_id"] for c in calls) == sorted(ids)
    evaluation = run_evaluator(task, out)
    assert evaluation.error is None
    by_id = {item.id: item for item in evaluation.items}
    assert len(by_id) == REAL_SIZES[name][1]
    answered = [by_id[i] for i in ids]
    assert all(item.status != "missing" for item in answered)
    correct = sum(item.status == "correct" for item in answered)
    assert evaluation.score == pytest.approx(correct / REAL_SIZES[name][1])
