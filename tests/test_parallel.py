"""`--parallel N`: one run of a harness over a split spread over N sandboxes, its rows
cut by the task's [parallel] section and its outputs put back together."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from sia_core.execution.shards import merge_outputs, merge_results
from sia_core.sandbox.api import OUTPUTS_REFUSED, SandboxResult
from sia_core.tasks.splits import selection_view, shard_views
from sia_core.tasks.task import ShardSpec, TaskError, load_task_dir
from tests.conftest import REPO, make_task, sia

REPLAY = REPO / "examples" / "review-sentiment" / "replay"

# Appended to a replay harness: it records which rows its shard saw and when it ran.
WITNESS = """
import json as _json, os as _os, time as _time
_start = _time.time()
_time.sleep(1.5)
(args.working_dir / "seen.json").write_text(_json.dumps({
    "shard": _os.environ["SIA_SHARD"], "ids": [row["id"] for row in rows],
    "start": _start, "end": _time.time()}))
"""


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_parallel_section_is_read_and_checked(tmp_path: Path) -> None:
    task = load_task_dir(make_task(tmp_path / "task"))
    assert task.config.shards == ShardSpec(inputs="test.csv", outputs=("predictions.csv",))
    toml = task.root / "task.toml"
    text = toml.read_text()
    block = '[parallel]\ninputs = "test.csv"\noutputs = ["predictions.csv"]\n'
    assert block in text
    bad = {
        'inputs = "test.csv"\noutputs = ["../x.csv"]': "must be a .csv or .jsonl file in the",
        'inputs = "test.csv"\noutputs = ["p.txt"]': "must be a .csv or .jsonl file",
        'outputs = "p.csv"': "[parallel] outputs must be a list",
        "outputs = []": "[parallel] outputs must list the row files",
        'inputs = "nope.csv"\noutputs = ["p.csv"]': "[parallel] inputs =",
        'outputs = ["p.csv"]\nshards = 3': "unknown key 'shards' in [parallel]",
    }
    for body, message in bad.items():
        toml.write_text(text.replace(block, f"[parallel]\n{body}\n"))
        with pytest.raises(TaskError, match=re.escape(message)):
            load_task_dir(task.root)
    # Without inputs it takes [validation]'s; without either it says what to add.
    toml.write_text(text.replace('inputs = "test.csv"\noutputs', "outputs", 1))
    assert load_task_dir(task.root).config.shards.inputs == "test.csv"
    toml.write_text(text.replace('inputs = "test.csv"\noutputs', "outputs", 1).split("# Select")[0])
    with pytest.raises(TaskError, match="needs inputs"):
        load_task_dir(task.root)


def test_shards_cut_rows_and_leave_the_view_untouched(tmp_path: Path) -> None:
    task = load_task_dir(make_task(tmp_path / "task", test=60))
    view = selection_view(task, tmp_path / "views")
    before = {p: p.read_bytes() for p in view.public_dir.rglob("*") if p.is_file()}
    spec = task.config.shards
    publics = shard_views(view, spec, 4, tmp_path / "shards")
    assert len(publics) == 4
    whole = rows_of(view.public_dir / "test.csv")
    parts = [rows_of(p / "test.csv") for p in publics]
    assert [r for part in parts for r in part] == whole  # contiguous, in order, nothing lost
    assert sorted(len(p) for p in parts) == [len(whole) // 4] * 4
    for public, part in zip(publics, parts, strict=True):
        sample = rows_of(public / "sample_submission.csv")
        assert [r["id"] for r in sample] == [r["id"] for r in part]
        assert (public / "train.csv").read_bytes() == (view.public_dir / "train.csv").read_bytes()
    # Files are hard links where they can be; rewriting a shard's never reaches the view.
    after = {p: p.read_bytes() for p in view.public_dir.rglob("*") if p.is_file()}
    assert after == before
    # Fewer rows than shards: one shard a row; one row: the view itself.
    assert len(shard_views(view, spec, 10_000, tmp_path / "many")) == len(whole)
    (tmp_path / "one").mkdir()
    single = tmp_path / "single"
    shutil.copytree(view.root, single)
    (single / "data" / "public" / "test.csv").write_text("id,text\nr1,fine\n")
    one = load_task_dir(single)
    assert shard_views(one, spec, 4, tmp_path / "one") == [one.public_dir]


def test_outputs_and_results_are_put_back_together(tmp_path: Path) -> None:
    shards = [tmp_path / str(k) for k in (1, 2, 3, 4)]
    for shard in shards:
        shard.mkdir()
    (shards[0] / "p.csv").write_text("id,label\na,x\nb,y\n")
    (shards[1] / "p.csv").write_text("label,id,extra\nz,c,1\n")  # other column order
    (shards[2] / "p.csv").write_bytes(b"id,label\n\xff\xfe,bad\n")  # not UTF-8
    (shards[0] / "p.jsonl").write_text('{"id": "a"}\n')
    (shards[1] / "p.jsonl").write_text('{"id": "c"}')  # no final newline
    out = tmp_path / "out"
    out.mkdir()
    problems = merge_outputs(ShardSpec("test.csv", ("p.csv", "p.jsonl")), shards, out)
    assert rows_of(out / "p.csv") == [
        {"id": "a", "label": "x", "extra": ""},
        {"id": "b", "label": "y", "extra": ""},
        {"id": "c", "label": "z", "extra": "1"},
    ]
    assert (out / "p.jsonl").read_text() == '{"id": "a"}\n{"id": "c"}\n'
    assert len(problems) == 1 and problems[0].startswith("shard 3/4: p.csv is not readable")

    def result(code: int | None, violation: str | None = None) -> SandboxResult:
        return SandboxResult(code, False, 1.0, "", f"err {code}", ["pid"], violation)

    ok = merge_results([result(0), result(0)], [])
    assert ok.ok and ok.duration_s == 1.0 and ok.isolation == ["pid", "shards: 2"]
    failed = merge_results([result(0), result(3), result(0)], [])
    assert not failed.ok and failed.reason == "agent exited with code 3: err 3"
    refused = OUTPUTS_REFUSED + "a link"
    one = merge_results([result(0, refused), result(0)], [])
    assert not one.outputs_refused and one.reason.startswith("agent stopped: shard 1/2:")
    both = merge_results([result(0, refused), result(0, refused)], [])
    assert both.outputs_refused
    assert "shard 3/4" in merge_results([result(0)], problems).reason


@pytest.mark.slow
def test_parallel_run_scores_what_one_sandbox_scores(tmp_path: Path) -> None:
    task = make_task(tmp_path / "task", test=60)
    script = tmp_path / "replay"
    shutil.copytree(REPLAY, script)
    agent = script / "gen_2" / "target_agent.py"
    agent.write_text(agent.read_text() + WITNESS)
    runs = tmp_path / "runs"
    common = ["--task-dir", str(task), "--backend", "scripted", "--backend-opt"]
    common += [f"script={script}", "--runs-dir", str(runs), "--max-gen", "3"]
    one = sia("run", *common, "--run-id", "one")
    three = sia("run", *common, "--run-id", "three", "--parallel", "3")
    assert one.returncode == 0 and three.returncode == 0, three.stderr
    states = [json.loads((runs / f"run_{r}" / "run.json").read_text()) for r in ("one", "three")]
    scored = [[(g["score"], g["test_score"]) for g in s["generations"]] for s in states]
    assert scored[0] == scored[1] and scored[0][1][0] > scored[0][0][0]
    gen2 = runs / "run_three" / "gen_2"
    seen = [json.loads((gen2 / "shards" / str(k) / "seen.json").read_text()) for k in (1, 2, 3)]
    assert [s["shard"] for s in seen] == ["1/3", "2/3", "3/3"]
    selection = rows_of(runs / "run_three" / "views" / "selection" / "data" / "public" / "test.csv")
    assert [i for s in seen for i in s["ids"]] == [r["id"] for r in selection]
    assert len(rows_of(gen2 / "predictions.csv")) == len(selection)
    # All three sandboxes ran at once: each started before any other ended.
    assert max(s["start"] for s in seen) < min(s["end"] for s in seen)
    assert (gen2 / "test" / "shards" / "3" / "predictions.csv").is_file()  # test split too
    assert "=== shard 2/3 ===" in (gen2 / "target_agent_stdout.log").read_text()
    assert not list(runs.rglob(".shards_in"))
    # `sia eval` spreads as asked, and scores the same.
    again = sia("eval", "three", "--gen", "2", "--parallel", "2", "--runs-dir", str(runs))
    assert again.returncode == 0, again.stderr
    assert f"repeat 1: {states[1]['generations'][1]['score']:.4f}" in again.stdout


def test_parallel_on_a_task_without_shards_is_one_line(tmp_path: Path) -> None:
    task = make_task(tmp_path / "task")
    toml = task / "task.toml"
    text = toml.read_text()
    toml.write_text(text[: text.index("# `--parallel")] + text[text.index("# Select") :])
    result = sia("run", "--task-dir", str(task), "--parallel", "2", "--runs-dir", str(tmp_path))
    assert result.returncode != 0
    assert "does not say how to cut its rows into shards" in result.stderr
    assert "Traceback" not in result.stderr


# A hostile harness in shards: shard 1 leaves a link to the private answers where its
# predictions belong; shard 2 writes its own results.json claiming a perfect score.
HOSTILE = """
import argparse, csv, os
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("--dataset_dir", type=Path); p.add_argument("--working_dir", type=Path)
a = p.parse_args()
rows = list(csv.DictReader(open(a.dataset_dir / "test.csv")))
if os.environ["SIA_SHARD"] == "1/2":
    os.symlink(ANSWERS, a.working_dir / "predictions.csv")
else:
    with open(a.working_dir / "predictions.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["id", "label"], *([r["id"], "positive"] for r in rows)])
    (a.working_dir / "results.json").write_text(
        '{"summary": {"accuracy": 1.0}, "items": []}')
"""


@pytest.mark.slow
def test_a_hostile_shard_gains_nothing_from_links_or_reserved_names(tmp_path: Path) -> None:
    task = make_task(tmp_path / "task", test=40)
    script = tmp_path / "replay"
    (script / "gen_2").mkdir(parents=True)
    answers = task / "data" / "private" / "answers.csv"
    (script / "gen_2" / "target_agent.py").write_text(f"ANSWERS = {str(answers)!r}\n" + HOSTILE)
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(task), "--backend", "scripted", "--backend-opt",
        f"script={script}", "--runs-dir", str(runs), "--max-gen", "2", "--run-id", "h",
        "--parallel", "2",
    )  # fmt: skip
    assert result.returncode in (0, 4), result.stderr
    gen2 = runs / "run_h" / "gen_2"
    record = json.loads((gen2 / "generation.json").read_text())
    assert not (gen2 / "shards" / "1" / "predictions.csv").exists()  # the link stayed behind
    assert "shards/2/results.json" in record["agent"]["dropped_outputs"]
    selection = rows_of(runs / "run_h" / "views" / "selection" / "data" / "public" / "test.csv")
    shard1, shard2 = selection[: len(selection) // 2], selection[len(selection) // 2 :]
    # Only shard 2's own rows were put back, and the score is the evaluator's, not the
    # agent's: every selection item is judged, shard 1's as missing.
    assert [r["id"] for r in rows_of(gen2 / "predictions.csv")] == [r["id"] for r in shard2]
    results = json.loads((gen2 / "results.json").read_text())
    status = {item["id"]: item["status"] for item in results["items"]}
    assert len(status) == len(selection)
    assert {status[r["id"]] for r in shard1} == {"missing"}
    assert record["score"] == results["summary"]["accuracy"] <= 0.5
