"""What a new user ran into: exit codes, messages, the console, the carved view's files,
choosable sandboxes and classifiers, and every option, key and variable documented."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from sia_core.tasks.splits import selection_view
from sia_core.tasks.task import load_task_dir
from tests.conftest import REPO, make_task, sia

DOCS = "\n".join(p.read_text() for p in (REPO / "docs").glob("*.md"))


def harness(script: Path, number: int, body: str) -> None:
    gen = script / f"gen_{number}"
    gen.mkdir(parents=True, exist_ok=True)
    (gen / "target_agent.py").write_text(
        "import argparse, os, sys\n"
        "p = argparse.ArgumentParser(); p.add_argument('--dataset_dir');"
        " p.add_argument('--working_dir'); a = p.parse_args()\n" + body
    )


def run_args(task: Path, tmp: Path, script: Path, run_id: str, *extra: str) -> list[str]:
    return [
        "run", "--task-dir", str(task), "--backend", "scripted",
        "--backend-opt", f"script={script}", "--run-id", run_id,
        "--runs-dir", str(tmp / "runs"), *extra,
    ]  # fmt: skip


def record(tmp: Path, run_id: str, number: int) -> dict:
    gen = tmp / "runs" / f"run_{run_id}" / f"gen_{number}" / "generation.json"
    return json.loads(gen.read_text())


@pytest.mark.slow
def test_nothing_scored_exits_3_and_messages_name_gen_n_not_a_temporary_dir(tmp_path) -> None:
    task = make_task(tmp_path / "task")
    evaluate = task / "data" / "public" / "evaluate.py"
    # An evaluator that fails naming a path in the generation's directory.
    evaluate.write_text(
        evaluate.read_text().replace(
            "args = parser.parse_args()",
            "args = parser.parse_args()\n    open(args.gen_dir / 'predictions.csv')",
        )
    )
    script = tmp_path / "script"
    harness(script, 1, "sys.exit('boom: no predictions written')\n")
    result = sia(*run_args(task, tmp_path, script, "n", "--max-gen", "1"))
    assert result.returncode == 3, result.stdout + result.stderr
    error = record(tmp_path, "n", 1)["error"]
    # paths are named relative to the generation's directory (gen_1/): never a temporary
    # directory, and nothing to rewrite when the generation is renamed into place
    assert "boom" in error and "No such file or directory: 'predictions.csv'" in error
    assert ".tmp-" not in error and ".tmp-" not in result.stdout
    assert str(tmp_path) not in error and "generation 1 failed" in result.stdout
    text = (tmp_path / "runs" / "run_n" / "gen_1" / "agent_execution.json").read_text()
    assert ".tmp-" not in text


@pytest.mark.slow
def test_an_agent_that_wants_a_provider_key_is_told_how_to_call_the_model(tmp_path) -> None:
    task = make_task(tmp_path / "task")
    script = tmp_path / "script"
    harness(script, 1, "key = os.environ['GEMINI_API_KEY']\n")
    result = sia(*run_args(task, tmp_path, script, "k", "--max-gen", "1"))
    assert result.returncode == 3
    error = record(tmp_path, "k", 1)["error"]
    assert "GEMINI_API_KEY" in error
    assert "gets no provider keys" in error and "SIA_BASE_URL" in error
    assert "docs/tasks.md" in error


def test_sandbox_options_and_the_reward_classifier_are_choosable(tmp_path) -> None:
    task = make_task(tmp_path / "task")
    base = ["run", "--task-dir", str(task), "--runs-dir", str(tmp_path / "runs")]
    bad = sia(*base, "--run-id", "a", "--sandbox-opt", "nope=1")
    assert bad.returncode == 2
    assert "sandbox 'local' has no option 'nope'; it takes bwrap=PATH" in bad.stderr
    missing = sia(*base, "--run-id", "b", "--sandbox-opt", "bwrap=/nonexistent/bwrap")
    assert missing.returncode == 2 and "apt-get install" in missing.stderr
    unknown = sia(*base, "--run-id", "c", "--reward-classifier", "nope")
    assert unknown.returncode == 2
    assert "no reward classifier 'nope'" in unknown.stderr and "stats" in unknown.stderr


@pytest.mark.slow
def test_a_third_party_reward_classifier_labels_the_rewards(tmp_path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "always_dense.py").write_text(
        "from sia_core.api import RewardClassifierSpec, ShapeReport, hookimpl\n\n"
        "def classify(rewards, algorithms):\n"
        "    return ShapeReport(label='dense', explanation='always dense', stats={},\n"
        "                       ranking=[a.name for a in algorithms], reasons={})\n\n"
        "@hookimpl\n"
        "def register_reward_classifiers(register):\n"
        "    register(RewardClassifierSpec('always-dense', 'test', classify))\n"
    )
    info = tmp_path / "pkg" / "always_dense-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: always-dense\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sia]\nalways_dense = always_dense\n")
    task = make_task(tmp_path / "task")
    result = sia(
        "run", "--task-dir", str(task), "--backend", "scripted", "--max-gen", "1",
        "--run-id", "r", "--runs-dir", str(tmp_path / "runs"),
        "--reward-classifier", "always-dense", env={"PYTHONPATH": str(tmp_path / "pkg")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shape = record(tmp_path, "r", 1)["reward_shape"]
    assert shape["label"] == "dense" and shape["explanation"] == "always dense"


def _view_rows(view_public: Path, name: str) -> list[dict[str, str]]:
    with (view_public / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_carved_view_rebuilds_files_that_list_test_ids(tmp_path) -> None:
    task_dir = make_task(tmp_path / "task", train=100, test=40)
    public = task_dir / "data" / "public"
    test_ids = [r["id"] for r in _view_rows(public, "test.csv")]
    with (public / "sample_submission.csv").open("w", newline="") as fh:
        fh.write("id,label\n" + "".join(f"{i},positive\n" for i in test_ids))
    (public / "task.md").write_text(
        "Label reviews. train.csv holds 100 labelled reviews; predict the 40 in test.csv.\n"
    )
    view = selection_view(load_task_dir(task_dir), tmp_path / "views")
    inputs = [r["id"] for r in _view_rows(view.public_dir, "test.csv")]
    sample = _view_rows(view.public_dir, "sample_submission.csv")
    assert [r["id"] for r in sample] == inputs
    assert {r["label"] for r in sample} == {"positive"}
    assert not set(inputs) & set(test_ids)
    kept = len(_view_rows(view.public_dir, "train.csv"))
    text = (view.public_dir / "task.md").read_text()
    assert f"holds {kept} labelled" in text and f"predict the {len(inputs)} in" in text
    assert "100" not in text and " 40 " not in text


def test_a_public_file_listing_test_ids_under_another_column_is_refused(tmp_path) -> None:
    task_dir = make_task(tmp_path / "task", train=100, test=40)
    public = task_dir / "data" / "public"
    test_ids = [r["id"] for r in _view_rows(public, "test.csv")]
    (public / "order.csv").write_text("row\n" + "".join(f"{i}\n" for i in test_ids))
    result = sia(
        "run", "--task-dir", str(task_dir), "--backend", "scripted", "--max-gen", "1",
        "--run-id", "v", "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "order.csv" in result.stderr and "test ids" in result.stderr


def test_sia_runs_never_cuts_a_run_id(tmp_path) -> None:
    for run_id in ("sentiment-grpo-seed-1-long-name-a", "sentiment-grpo-seed-1-long-name-b"):
        path = tmp_path / "runs" / f"run_{run_id}"
        path.mkdir(parents=True)
        (path / "run.json").write_text(
            json.dumps({"run_id": run_id, "task": {"name": "sentiment"}, "status": "finished"})
        )
    result = sia("runs", "--runs-dir", str(tmp_path / "runs"), env={"COLUMNS": "80"})
    assert result.returncode == 0
    assert "sentiment-grpo-seed-1-long-name-a" in result.stdout
    assert "sentiment-grpo-seed-1-long-name-b" in result.stdout


def test_a_local_model_costs_say_local_not_zero_dollars(tmp_path) -> None:
    from io import StringIO

    from rich.console import Console

    from sia_core.loop.run_dir import RunDir
    from sia_core.report.tables import print_summary

    path = tmp_path / "run_x"
    path.mkdir()
    state = {
        "run_id": "x", "status": "finished", "task": {"name": "t", "metric": "accuracy"},
        "task_model": {"name": "gemma3-270m", "local": True},
        "tokens": {"prompt": 10, "completion": 5},
        "cost_usd": 0.0, "calls_without_price": 3, "generations": [],
    }  # fmt: skip
    (path / "run.json").write_text(json.dumps(state))
    out = StringIO()
    print_summary(state, RunDir(path), Console(file=out, width=200))
    text = out.getvalue()
    assert "local model (no price)" in text and "$0.0000" not in text


def test_every_option_key_and_variable_is_documented() -> None:
    from sia_core.cli.main import cli
    from sia_core.tasks.task import _SECTIONS

    undocumented = []
    for name, command in cli.commands.items():
        for param in command.params:
            for flag in getattr(param, "opts", []):
                if flag.startswith("--") and flag not in ("--help",) and f"`{flag}" not in DOCS:
                    undocumented.append(f"sia {name} {flag}")
    tasks_md = (REPO / "docs" / "tasks.md").read_text()
    for section, keys in _SECTIONS.items():
        for key in keys:
            if not re.search(rf"\b{key}\b", tasks_md):
                undocumented.append(f"task.toml [{section}] {key}")
    sources = [*REPO.glob("sia_core/**/*.py"), *REPO.glob("plugins/*/sia_*/**/*.py")]
    variables = set()
    for path in sources:
        if "testing" in path.parts:
            continue
        text = path.read_text()
        variables |= set(re.findall(r"environ(?:\.get)?\(\s*[\"']([A-Z][A-Z0-9_]+)", text))
        variables |= set(re.findall(r"environ\[[\"']([A-Z][A-Z0-9_]+)[\"']\]", text))
        variables |= set(re.findall(r"getenv\(\s*[\"']([A-Z][A-Z0-9_]+)", text))
    for variable in sorted(variables):
        if variable not in DOCS:
            undocumented.append(f"environment variable {variable}")
    assert not undocumented, "undocumented: " + "; ".join(undocumented)
