"""A run says plainly what it cannot reach: a task model whose key is missing or whose
server is down stops the run before any work, in one line; failed model calls are
counted and shown; litellm's chatter never reaches the console; `sia task check`
refuses only what is wrong and reports every problem at once; labels are true."""

from __future__ import annotations

import csv
import json
import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import make_task, sia

KEYS = (
    "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY",
    "OPENAI_BASE_URL", "OPENROUTER_API_KEY",
)  # fmt: skip
NO_KEYS = dict.fromkeys(KEYS, "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the refusal before any work --------------------------------------------------------

FAMILIES = [
    ("anthropic/claude-haiku-4-5", (), "ANTHROPIC_API_KEY is not set"),
    ("gemini/gemini-2.5-flash", (), "GEMINI_API_KEY (or GOOGLE_API_KEY) is not set"),
    ("openai/gpt-4o-mini", (), "OPENAI_API_KEY is not set"),
    ("openai/served", ("--task-model-base", "http://127.0.0.1:{port}/v1"), "does not answer"),
]


@pytest.mark.parametrize("backend", ["scripted", "heuristic", "claude"])
@pytest.mark.parametrize(("model", "extra", "expected"), FAMILIES)
def test_an_unreachable_task_model_is_one_line_before_any_work(
    tmp_path: Path, backend: str, model: str, extra: tuple[str, ...], expected: str
) -> None:
    task = make_task(tmp_path / "task", train=30, test=10)
    extra = tuple(e.format(port=free_port()) for e in extra)
    options = ("--backend-opt", f"script={tmp_path}") if backend == "scripted" else ()
    result = sia(
        "run", "--task-dir", str(task), "--task-model", model, *extra, "--backend", backend,
        *options, "--runs-dir", str(tmp_path / "runs"), "--max-gen", "1",
        env=NO_KEYS, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert "--task-model gemma3-270m" in result.stderr
    assert not (tmp_path / "runs").exists(), "nothing may be written before the refusal"


def test_a_key_in_the_environment_or_a_server_address_passes(monkeypatch) -> None:
    from sia_core.gateway.reach import unreachable

    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    assert unreachable("gemini/x", None, local=False) is not None
    monkeypatch.setenv("GOOGLE_API_KEY", "k")  # either of gemini's variables will do
    assert unreachable("gemini/x", None, local=False) is None
    assert unreachable("gemma3-270m", None, local=True) is None
    assert unreachable(None, None, local=False) is None
    assert unreachable("hosted_vllm/m", None, local=False) is None  # a server, not a key


# -- failed calls: counted, shown, and never read as a score -----------------------------


def _harness(script: Path) -> None:
    gen = script / "gen_1"
    gen.mkdir(parents=True)
    (gen / "target_agent.py").write_text(
        "import argparse, csv, os, urllib.request, json\n"
        "p = argparse.ArgumentParser(); p.add_argument('--dataset_dir');"
        " p.add_argument('--working_dir'); a = p.parse_args()\n"
        "rows = list(csv.DictReader(open(os.path.join(a.dataset_dir, 'test.csv'))))\n"
        "out = []\n"
        "for row in rows:\n"
        "    req = urllib.request.Request(os.environ['SIA_BASE_URL'] + '/chat/completions',\n"
        "        data=json.dumps({'model': os.environ['SIA_MODEL'], 'messages':"
        " [{'role': 'user', 'content': row['text']}]}).encode(),\n"
        "        headers={'Authorization': 'Bearer ' + os.environ['SIA_API_KEY'],"
        " 'Content-Type': 'application/json', 'X-SIA-Item': row['id']})\n"
        "    try:\n"
        "        urllib.request.urlopen(req, timeout=30).read()\n"
        "    except Exception:\n"
        "        pass\n"
        "    out.append({'id': row['id'], 'label': 'negative'})\n"
        "w = csv.DictWriter(open(os.path.join(a.working_dir, 'predictions.csv'), 'w',"
        " newline=''), fieldnames=['id', 'label'])\n"
        "w.writeheader(); w.writerows(out)\n"
    )


THIRD_PARTY = ("LiteLLM", "Give Feedback", "Provider List", "Traceback",
               "Warning", "warn(", "DeprecationWarning")  # fmt: skip


@pytest.mark.slow
def test_failed_calls_are_counted_and_litellm_stays_off_the_console(tmp_path: Path) -> None:
    """An API model through litellm (anthropic/) whose provider answers 401 to every
    call: the generation is marked failed with the count and the reason, in the record,
    on the console and in `sia show`; not one third-party line reaches the console."""
    from sia_core.testing.fakes.anthropic_api import FakeAnthropic

    task = make_task(tmp_path / "task", train=30, test=10)
    script = tmp_path / "script"
    _harness(script)
    with FakeAnthropic(always=401) as fake:
        # provider text reaches the console: as text, never as rich markup
        fake.error_message = "invalid x-api-key [/red] [bold]styled?"
        result = sia(
            "run", "--task-dir", str(task), "--task-model", "anthropic/claude-haiku-4-5",
            "--task-model-base", fake.url, "--backend", "scripted",
            "--backend-opt", f"script={script}", "--run-id", "k",
            "--runs-dir", str(tmp_path / "runs"), "--max-gen", "1",
            env={**NO_KEYS, "ANTHROPIC_API_KEY": "sk-ant-test-0000"}, timeout=240,
        )  # fmt: skip
    console = result.stdout + result.stderr
    assert result.returncode == 3, console  # nothing scored: a 0.0 is not a score
    record = json.loads((tmp_path / "runs/run_k/gen_1/generation.json").read_text())
    assert record["status"] == "failed"
    assert record["error"].startswith("6 of 6 model calls failed (HTTP 401"), record["error"]
    selection = record["usage"]["selection"]
    assert selection["errors"] == 6 and selection["calls"] == 0
    assert selection["failures"]["401"]["count"] == 6
    assert "sk-ant-test-0000" not in json.dumps(record)
    assert "6 of 6 model calls failed" in console
    assert "[/red] [bold]styled?" in console
    for word in THIRD_PARTY:
        assert word not in console, f"{word!r} reached the console:\n{console}"
    show = sia("show", "k", "--runs-dir", str(tmp_path / "runs"))
    assert "task-model calls: 6 of 6 model calls failed (HTTP 401" in show.stdout, show.stdout


def test_the_record_and_the_report_count_failed_calls() -> None:
    from sia_core.generation_record import GenerationRecord, ModelCalls
    from sia_core.usage import Usage

    usage = Usage(calls=3)
    usage.errors = 2
    usage.failed(429, "rate limited")
    usage.failed(429, "rate limited again")
    record = GenerationRecord(number=1, started=0.0, status="ok", score=0.5)
    record.add_usage("selection", usage.as_dict())
    record.add_usage("test", {**Usage(calls=1).as_dict(), "errors": 1,
                              "failures": {"500": {"count": 1, "first": "boom"}}})  # fmt: skip
    calls = record.model_calls()
    assert (calls.served, calls.failed) == (4, 3) and not calls.mostly_failed
    assert calls.reasons[0] == ("429", 2, "rate limited")
    assert calls.text() == "3 of 7 model calls failed (HTTP 429: rate limited; 1 other reason(s))"
    assert ModelCalls(served=1, failed=1).mostly_failed
    assert ModelCalls().text() is None


# -- checks that refuse only what is wrong -----------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_ids_counted_per_file_are_not_a_leak_and_a_real_duplicate_is_a_warning(
    tmp_path: Path,
) -> None:
    """The lawbench shape: ids are row numbers per file, so every test id is also a
    training id with another text. That passes; a test text that also stands in training
    is reported with its count and ids, as a warning."""
    from sia_core.tasks.check import cheap_checks

    task = make_task(tmp_path / "task", train=40, test=12)
    public, private = task / "data/public", task / "data/private"
    test, train = _rows(public / "test.csv"), _rows(public / "train.csv")
    answers = {r["id"]: r for r in _rows(private / "answers.csv")}
    renumber = {row["id"]: str(i) for i, row in enumerate(test)}
    for i, row in enumerate(train):
        row["id"] = str(i)
    train[5]["text"] = test[3]["text"]  # one real duplicate, under another id
    _write(public / "train.csv", train)
    _write(public / "test.csv", [{**r, "id": renumber[r["id"]]} for r in test])
    _write(private / "answers.csv", [{**answers[k], "id": v} for k, v in renumber.items()])
    sample = public / "sample_submission.csv"
    if sample.is_file():
        _write(sample, [{**r, "id": renumber[r["id"]]} for r in _rows(sample)])
    findings = {f.check: f for f in cheap_checks(task)}
    assert all(f.ok for f in findings.values()), [f.line() for f in findings.values()]
    duplicate = findings["duplicates"]
    assert duplicate.warning and duplicate.line().startswith("warn duplicates: 1 test inputs")
    assert "test ids 3)" in duplicate.message
    # the same text under the same id is the leak it always was
    train[3]["text"] = test[3]["text"]
    _write(public / "train.csv", train)
    ids = next(f for f in cheap_checks(task) if f.check == "ids" and not f.ok)
    assert "1 test rows are also in train.csv under the same id" in ids.message


def test_task_check_lists_a_leak_and_a_wrong_metric_key_together(tmp_path: Path) -> None:
    task = make_task(tmp_path / "task", train=30, test=10)
    shutil.copy2(task / "data/private/answers.csv", task / "data/public/answers_copy.csv")
    evaluate = task / "data/public/evaluate.py"
    evaluate.write_text(evaluate.read_text().replace('"accuracy"', '"acc"'))
    result = sia("task", "check", str(task))
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any(line.startswith("FAIL private data") for line in failed), result.stdout
    assert any(line.startswith("FAIL evaluator") and "acc" in line for line in failed), (
        result.stdout
    )
    assert "skip reference harness: not run: data/public reaches the private answers" in (
        result.stdout
    )
    assert result.stdout.rstrip().endswith("2 failed, 1 skipped"), result.stdout


# -- labels that are true -----------------------------------------------------------------


def test_a_tasks_own_validation_view_is_labelled_held_out(tmp_path: Path) -> None:
    from sia_core.gateway.serving import TaskModel
    from sia_core.loop.run_dir import held_out, initial_state
    from sia_core.tasks.task import load_task_dir

    task = make_task(tmp_path / "task", train=30, test=10)
    toml = task / "task.toml"
    toml.write_text(toml.read_text().split("# Select on")[0] + '[validation]\nview = "sel"\n')
    (task / "sel/public").mkdir(parents=True)
    (task / "sel/private").mkdir(parents=True)
    loaded = load_task_dir(task)
    state = initial_state("r", loaded, 0, TaskModel(None, None, {}, 0, tmp_path / "log"))
    assert state["task"]["held_out"] is True
    # a run written before says so only in its text: read as held out too
    assert held_out({"selection": "validation: the task's own selection split (sel/)"})
    assert not held_out({"selection": "test: this task has no validation split"})
