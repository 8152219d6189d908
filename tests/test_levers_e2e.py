"""The offline harness lever end to end: knob generations through the real loop,
sandbox and gateway; a kept one's diff is its knob lines; the study survives kill -9."""

from __future__ import annotations

import csv
import difflib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sia_core.harness.knob_search import KnobSearch
from tests.conftest import sia
from tests.test_loop import run_json

pytestmark = pytest.mark.slow


def _changed_lines(old: Path, new: Path) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(
            old.read_text().splitlines(), new.read_text().splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def test_tiny_model_run_keeps_a_harness_generation_whose_diff_is_the_knob(
    yes_task: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    # The yes task's harness with one real harness choice: take the model's word as it
    # is, or project it onto the labels seen in train.csv (a closed answer set).
    agent = yes_task / "reference" / "reference_target_agent.py"
    source = agent.read_text()
    source = source.replace(
        "rows = list(",
        'LABELS = "free"  # sia-knob: choice free|closed\n'
        'train_labels = sorted({r["answer"] for r in csv.DictReader(open(os.path.join('
        'a.dataset_dir, "train.csv")))})\nrows = list(',
        1,
    ).replace(
        'return [row["id"], reply.choices[0].message.content.strip()]',
        "word = reply.choices[0].message.content.strip()\n"
        '    if LABELS == "closed" and word not in train_labels:\n'
        "        word = train_labels[0]\n"
        '    return [row["id"], word]',
    )
    agent.write_text(source)
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(yes_task), "--backend", "heuristic", "--task-model",
        str(tiny_dir), "--max-gen", "3", "--run-id", "t", "--runs-dir", str(runs),
        "--backend-opt", "trials=1",  # one trial a generation: the generation is the trial
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    state = run_json(runs, "t")
    gens = state["generations"]
    assert gens[0]["score"] < 0.5  # the tiny model rarely says yes
    assert gens[1]["lever"] == "harness" and gens[1]["incumbent"]
    assert gens[1]["score"] == 1.0 and gens[1]["test_score"] == 1.0
    run = runs / "run_t"
    assert _changed_lines(run / "gen_1" / "target_agent.py", run / "gen_2" / "target_agent.py") == [
        '-LABELS = "free"  # sia-knob: choice free|closed',
        '+LABELS = "closed"  # sia-knob: choice free|closed',
    ]
    improvement = (run / "gen_2" / "improvement.md").read_text()
    assert '- `LABELS`: "free" → "closed"' in improvement
    decision = json.loads((run / "gen_2" / "decision.json").read_text())
    assert decision["hyperparameters"]["knobs"] == {"LABELS": "closed"}
    assert "untried" in decision["rationale"]
    # Every selection item then succeeds: nothing is left to improve.
    assert state["status"] == "finished" and "full reward" in state["stop_reason"]
    assert (run / "gen_2" / "calls.jsonl").read_text().count("\n") >= 4  # the model was called
    trials = [t for t in KnobSearch(run, "max", 0).table() if t["how"] != "repeat"]
    assert [(t["how"], t["gen"], t["state"], t["score"]) for t in trials] == [
        ("parent", 1, "complete", gens[0]["score"]),
        ("edit", 2, "complete", 1.0),
    ]
    assert "knob trials: 1 (1 scored); best selection 1.0000 (gen 2): LABELS='closed'" in (
        result.stdout.replace("\n", " ")
    )
    report = sia("report", "t", "--runs-dir", str(runs))
    assert report.returncode == 0, report.stderr
    page = (run / "report.html").read_text()
    assert "<h2>Knob trials</h2>" in page and "LABELS=&quot;closed&quot;" in page


PAUSING_KNOBS = """
METHOD = "majority"
PAUSE = 2.0  # sia-knob: float 2.0..2.5
PURITY = 0.8  # sia-knob: float 0.5..1.0
MIN_COUNT = 1
DEMO_IDS = []
time.sleep(PAUSE)  # long enough to be killed in
"""


def test_the_knob_study_resumes_after_kill_9_with_no_lost_or_repeated_trial(
    task_dir: Path, tmp_path: Path
) -> None:
    agent = task_dir / "reference" / "reference_target_agent.py"
    source = agent.read_text()
    head, _, rest = source.partition('METHOD = "majority"')
    rest = rest.split("\n", 4)[4]  # drop the reference's knob lines
    agent.write_text(
        head.replace("import argparse", "import argparse\nimport time") + PAUSING_KNOBS + rest
    )
    runs = tmp_path / "runs"
    args = [
        "run", "--task-dir", str(task_dir), "--backend", "heuristic", "--run-id", "k",
        "--runs-dir", str(runs), "--backend-opt", "trials=1", "--max-gen", "4",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "sia"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = runs / "run_k"
    deadline = time.monotonic() + 120
    while not list(run.glob(".tmp-gen_3-*/target_agent.py")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.8)  # generation 3's agent sleeps at least 2 s: kill while it runs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "gen_3").exists()
    before = {(t["trial"], t["gen"], t["state"]) for t in KnobSearch(run, "max", 0).table()}
    asked = [t for t in KnobSearch(run, "max", 0).table() if t["gen"] == 3]
    assert [t["state"] for t in asked] == ["running"]

    result = sia(*args[:-2], "--resume", "--max-gen", "4")
    assert result.returncode == 0, result.stderr + result.stdout
    trials = KnobSearch(run, "max", 0).table()
    evaluated = [t for t in trials if t["how"] not in ("parent", "repeat")]
    # One trial per generation 2..4, none lost, none asked twice; gen 3's is the one
    # asked before the kill, told the score gen 3 got after the resume.
    assert [t["gen"] for t in evaluated] == [2, 3, 4]
    assert {t["state"] for t in evaluated} <= {"complete", "running"}
    gen3 = json.loads((run / "gen_3" / "generation.json").read_text())
    decision = gen3["decision"]
    assert decision["hyperparameters"]["trial"] == asked[0]["trial"]
    assert decision["hyperparameters"]["knobs"] == asked[0]["values"]
    told = next(t for t in trials if t["trial"] == asked[0]["trial"])
    assert told["state"] == "complete" and told["score"] == gen3["score"]
    assert "asked for before a kill" in (run / "gen_3" / "improvement.md").read_text()
    assert {(t["trial"], t["gen"]) for t in trials} >= {(n, g) for n, g, _ in before}
    assert [g["number"] for g in run_json(runs, "k")["generations"]] == [1, 2, 3, 4]


def test_with_candidates_each_candidate_is_a_trial(task_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(task_dir), "--backend", "heuristic", "--max-gen", "3",
        "--candidates", "2", "--run-id", "c", "--runs-dir", str(runs),
        "--backend-opt", "trials=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    run = runs / "run_c"
    trials = [t for t in KnobSearch(run, "max", 0).table() if t["how"] not in ("parent", "repeat")]
    assert sorted((t["gen"], t["candidate"]) for t in trials) == [(2, 1), (2, 2), (3, 1), (3, 2)]
    assert {t["state"] for t in trials} == {"complete"}
    for t in trials:
        candidate = run / f"gen_{t['gen']}" / "candidates" / str(t["candidate"])
        decision = json.loads((candidate / "decision.json").read_text())
        assert decision["hyperparameters"]["trial"] == t["trial"]
        record = json.loads((candidate / "generation.json").read_text())
        assert record["score"] == t["score"]


def test_bootstrapped_demos_come_from_training_rows_the_harness_answered_in_its_sandbox(
    yes_task: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    """The bootstrap run through the real sandbox, gateway and evaluator: the parent's
    setting answers exactly the "question A" rows right (without the model), so the rows
    found are those of the pool, never its own demos, selection or test rows; the demos
    edit that follows draws from them."""
    from sia_core.backends.knob_lever import BOOTSTRAP_ROWS
    from sia_core.harness.knob_search import demo_pool
    from sia_core.harness.knobs import parse_knobs
    from sia_core.tasks.splits import selection_view
    from sia_core.tasks.task import load_task_dir

    spec = "# sia-knob: demos train.csv:id 0..4"
    task = load_task_dir(yes_task)
    selection = selection_view(task, tmp_path / "views")
    pool = demo_pool(parse_knobs(f"DEMO_IDS = []  {spec}\n")[0], task, selection, seed=0)
    shown = pool[:1]
    agent = yes_task / "reference" / "reference_target_agent.py"
    # Hostile too: every run of the harness writes down what its sandbox lets it see.
    peek = (
        "import json as _json\n"
        "def _ids(name):\n"
        "    path = os.path.join(a.dataset_dir, name)\n"
        "    return list(csv.DictReader(open(path))) if os.path.exists(path) else []\n"
        "_json.dump({'files': sorted(os.listdir(a.dataset_dir)),\n"
        "            'train': [r['id'] for r in _ids('train.csv')],\n"
        "            'items': _ids('test.csv')},\n"
        "           open(os.path.join(a.working_dir, 'seen.json'), 'w'))\n"
    )
    agent.write_text(
        agent.read_text()
        .replace("rows = list(", f"DEMO_IDS = {json.dumps(shown)}  {spec}\n{peek}rows = list(", 1)
        .replace(
            "def answer(row):\n",
            'def answer(row):\n    if row["question"] == "question A is the":\n'
            '        return [row["id"], "yes"]\n',
        )
    )
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(yes_task), "--backend", "heuristic", "--task-model",
        str(tiny_dir), "--max-gen", "2", "--run-id", "b", "--runs-dir", str(runs),
        "--backend-opt", "trials=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    train = {
        r["id"]: r["question"] for r in csv.DictReader((yes_task / "data/public/train.csv").open())
    }
    asked = [i for i in pool if i not in shown][:BOOTSTRAP_ROWS]
    right = {i for i in asked if train[i] == "question A is the"}
    assert right and len(right) < len(asked)
    gen = runs / "run_b" / "gen_2"
    improvement = (gen / "improvement.md").read_text()
    assert f"answered {len(right)} of {len(asked)} training rows right ({len(asked)} scored)" in (
        improvement
    ), improvement
    # the rows went through the sandbox as items of their own view: the model was asked
    # about the others, each tagged with its row's id
    calls = (gen / "trials" / "rows_1" / "out" / "calls.jsonl").read_text().splitlines()
    called = {json.loads(line)["item_id"] for line in calls}
    assert called == set(asked) - right
    chosen = json.loads((gen / "decision.json").read_text())["hyperparameters"]["knobs"]
    assert set(chosen["DEMO_IDS"]) <= right and len(chosen["DEMO_IDS"]) == min(4, len(right))
    # what the harness saw in the rows view: the asked rows as its items, without their
    # labels, and no longer among the labelled training rows (nor anywhere else public)
    seen = json.loads((gen / "trials" / "rows_1" / "out" / "seen.json").read_text())
    assert {r["id"] for r in seen["items"]} == set(asked)
    assert all(set(r) == {"id", "question"} for r in seen["items"])
    assert seen["train"] and not set(seen["train"]) & set(asked)
    assert not {"answers.csv", "private"} & set(seen["files"])


def test_an_edit_the_model_cannot_see_is_told_its_origins_score_without_a_selection_run(
    yes_task: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    """ECHO sends the same greedy request again: on the probe rows (training rows no demo
    may show) its edit sends what the parent sent, so it is told the parent's score
    instead of spending one of the generation's selection runs; the other knobs' edits
    change the requests and are run."""
    agent = yes_task / "reference" / "reference_target_agent.py"
    agent.write_text(
        agent.read_text()
        .replace(
            "rows = list(",
            'ECHO = 1  # sia-knob: int 1..3\nPREFIX = "a"  # sia-knob: choice a|b\n'
            "TEMP = 0.0  # sia-knob: float 0.0..1.0\nrows = list(",
            1,
        )
        .replace(
            "def answer(row):\n    reply = client",
            "def answer(row):\n  for _ in range(ECHO):\n    reply = client",
        )
        .replace("temperature=0,", "temperature=TEMP,")
        .replace(
            '"content": row["question"]',
            '"content": ("" if PREFIX == "a" else "Q: ") + row["question"]',
        )
    )
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(yes_task), "--backend", "heuristic", "--task-model",
        str(tiny_dir), "--max-gen", "2", "--run-id", "p", "--runs-dir", str(runs),
        "--backend-opt", "levers=harness", "--backend-opt", "trials=3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    search = KnobSearch(runs / "run_p", "max", 0)
    trials = search.study(search.studies()[0]).get_trials()
    told = [t for t in trials if "same_requests_as" in t.user_attrs]
    assert len(told) == 1, [(t.user_attrs.get("how"), t.params) for t in trials]
    assert told[0].user_attrs["how"] == "repeat" and told[0].user_attrs["same_requests_as"] == 0
    parent = trials[0].user_attrs["values"]
    assert [k for k, v in told[0].user_attrs["values"].items() if parent[k] != v] == ["ECHO"]
    ran = [t for t in trials if t.user_attrs.get("how") in ("edit", "tpe")]
    assert len(ran) == 3  # the generation's three selection runs all went to other edits
    improvement = (runs / "run_p" / "gen_2" / "improvement.md").read_text()
    assert f"(trial {told[0].number}) that were scored already or sent the" in improvement
    assert any((runs / "run_p" / "gen_2" / "trials").glob("probe_*"))
    # Hostile view: the probe asks the model only about spare training rows, never a
    # selection or test item, so a harness learns no held-out answer from being probed.
    from sia_core.harness.knob_search import probe_rows
    from sia_core.tasks.splits import selection_view
    from sia_core.tasks.task import load_task_dir

    task = load_task_dir(yes_task)
    selection = selection_view(task, tmp_path / "views")
    probed = {
        json.loads(line)["item_id"]
        for f in (runs / "run_p" / "gen_2" / "trials").glob("requests_*/out/calls.jsonl")
        for line in f.read_text().splitlines()
    }
    held = {r["id"] for r in csv.DictReader((selection.public_dir / "test.csv").open())}
    held |= {r["id"] for r in csv.DictReader((task.public_dir / "test.csv").open())}
    assert probed == set(probe_rows(task, selection, {}, seed=0)) and len(probed) == 8
    assert not probed & held
    # Switched off, every edit gets its selection run (ECHO's too) and nothing is probed.
    off = sia(
        "run", "--task-dir", str(yes_task), "--backend", "heuristic", "--task-model",
        str(tiny_dir), "--max-gen", "2", "--run-id", "q", "--runs-dir", str(runs),
        "--backend-opt", "levers=harness", "--backend-opt", "trials=3",
        "--backend-opt", "probe=off",
    )  # fmt: skip
    assert off.returncode == 0, off.stderr + off.stdout
    search = KnobSearch(runs / "run_q", "max", 0)
    unprobed = search.study(search.studies()[0]).get_trials()
    assert not [t for t in unprobed if "same_requests_as" in t.user_attrs]
    assert not any((runs / "run_q" / "gen_2" / "trials").glob("probe_*"))
    edited = [t.user_attrs["edit_knob"] for t in unprobed if t.user_attrs.get("how") == "edit"]
    assert "ECHO" in edited
