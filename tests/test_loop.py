"""End-to-end runs of the generation loop on a task whose agents need no LLM."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_task, sia

pytestmark = pytest.mark.slow


def run_json(runs: Path, run_id: str) -> dict:
    return json.loads((runs / f"run_{run_id}" / "run.json").read_text())


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def test_better_generation_is_kept_and_worse_one_is_not(task_dir, replay_dir, tmp_path) -> None:
    runs = tmp_path / "runs"
    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={replay_dir}",
        "--run-id",
        "e2e",
        "--runs-dir",
        str(runs),
        "--max-gen",
        "3",
    )
    assert result.returncode == 0, result.stderr
    state = run_json(runs, "e2e")
    gens = state["generations"]
    assert [g["status"] for g in gens] == ["ok", "ok", "ok"]
    assert gens[1]["score"] > gens[0]["score"] > gens[2]["score"]
    assert [g["incumbent"] for g in gens] == [True, True, False]
    assert state["incumbent"] == 2 and state["status"] == "finished"
    assert state["best"]["test_score"] == pytest.approx(1.0)
    assert gens[2]["test_score"] is None  # a worse generation never touches test
    assert state["task"]["held_out"] is True
    gen2 = runs / "run_e2e" / "gen_2"
    for name in (
        "target_agent.py",
        "agent_execution.json",
        "calls.jsonl",
        "results.json",
        "decision.json",
        "improvement.md",
        "generation.json",
        "predictions.csv",
    ):
        assert (gen2 / name).is_file(), name
    assert (gen2 / "test" / "results.json").is_file()
    assert json.loads((gen2 / "decision.json").read_text())["lever"] == "harness"
    assert "incumbent: generation 2" in result.stdout
    assert "held-out test accuracy 1.0000" in result.stdout
    listing = sia("runs", "--runs-dir", str(runs))
    assert "e2e" in listing.stdout and "finished" in listing.stdout
    shown = sia("show", "e2e", "--runs-dir", str(runs))
    assert shown.returncode == 0 and "naive Bayes" in shown.stdout


def test_kill_9_in_generation_3_then_resume(task_dir, replay_dir, tmp_path) -> None:
    runs = tmp_path / "runs"
    exe = Path(sys.executable).parent / "sia"
    proc = subprocess.Popen(
        [
            str(exe),
            "run",
            "--task-dir",
            str(task_dir),
            "--backend",
            "scripted",
            "--backend-opt",
            f"script={replay_dir}",
            "--run-id",
            "k",
            "--runs-dir",
            str(runs),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = runs / "run_k"
    deadline = time.monotonic() + 120
    while not list(run_dir.glob(".tmp-gen_3-*/target_agent.py")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # generation 3's agent sleeps 2 s: kill while it runs
    before = {n: tree_digest(run_dir / f"gen_{n}") for n in (1, 2)}
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "gen_3").exists()
    assert run_json(runs, "k")["status"] == "running"
    time.sleep(0.3)
    deadline = time.monotonic() + 10  # a namespace's teardown is asynchronous
    while True:
        # This run's sandboxes only (their stage names carry its pid): another sia on the
        # machine may be running sandboxes of its own.
        leftovers = subprocess.run(
            ["pgrep", "-f", f"sia-sandbox-{proc.pid}-"], capture_output=True, text=True
        )
        if not leftovers.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert leftovers.stdout == ""  # the sandbox died with its parent

    result = sia("run", "--resume", "--run-id", "k", "--runs-dir", str(runs))
    assert result.returncode == 0, result.stderr
    assert "removed 1 partial file(s)" in result.stdout
    assert {n: tree_digest(run_dir / f"gen_{n}") for n in (1, 2)} == before
    state = run_json(runs, "k")
    assert [g["number"] for g in state["generations"]] == [1, 2, 3]
    assert state["status"] == "finished" and state["incumbent"] == 2
    assert not list(run_dir.glob(".tmp-*"))


def write_script(root: Path, agents: dict[int, str]) -> Path:
    for number, body in agents.items():
        (root / f"gen_{number}").mkdir(parents=True)
        (root / f"gen_{number}" / "target_agent.py").write_text(body)
    return root


def test_crashing_timing_out_and_garbage_agents_fail_their_generation_only(
    task_dir, replay_dir, tmp_path
) -> None:
    toml = task_dir / "task.toml"
    toml.write_text(toml.read_text().replace("agent_timeout_s = 120", "agent_timeout_s = 3"))
    # An evaluator whose message names the file by its full path, in a directory that is
    # renamed when the generation is whole.
    evaluator = task_dir / "data" / "public" / "evaluate.py"
    evaluator.write_text(
        evaluator.read_text().replace(
            'f"predictions.csv is malformed', 'f"{submission} is malformed'
        )
    )
    script = write_script(
        tmp_path / "script",
        {
            2: "raise RuntimeError('harness bug')\n",
            3: "import time\ntime.sleep(60)\n",
            4: "import sys, pathlib\n"
            "pathlib.Path(sys.argv[sys.argv.index('--working_dir') + 1], "
            "'predictions.csv').write_bytes(b'\\x00\\xff garbage')\n",
        },
    )
    shutil.copytree(replay_dir / "gen_2", script / "gen_5")
    runs = tmp_path / "runs"
    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={script}",
        "--run-id",
        "f",
        "--runs-dir",
        str(runs),
        "--max-gen",
        "5",
    )
    assert result.returncode == 0, result.stderr
    gens = run_json(runs, "f")["generations"]
    assert [g["status"] for g in gens] == ["ok", "failed", "failed", "failed", "ok"]
    assert "harness bug" in gens[1]["error"]
    assert "timed out after 3 s" in gens[2]["error"]
    assert "malformed" in gens[3]["error"]
    assert gens[4]["incumbent"] and run_json(runs, "f")["incumbent"] == 5
    # records name the generation's files relative to its directory: nothing to rewrite
    # after the rename, and no temporary name left behind
    assert "evaluator exited with code 1: predictions.csv is malformed" in gens[3]["error"]
    for record in (runs / "run_f").glob("gen_*/*.json"):
        assert str(runs) not in record.read_text(), record


def test_the_run_finishes_when_the_incumbent_fails_too_few_items_to_be_beaten(
    task_dir, replay_dir, tmp_path
) -> None:
    # Generation 2 gets every selection item but one right; generation 3 (all right)
    # could be 1 better, 0 worse at best: the paired rule would never keep it, so the
    # run stops instead of spending generation 3.
    perfect = (replay_dir / "gen_2" / "target_agent.py").read_text()
    last = "writer.writerows([row[\"id\"], predict(row[\"text\"])] for row in rows)"
    assert last in perfect
    flip = {"positive": "negative", "negative": "positive"}
    one_wrong = perfect.replace(
        last,
        f"labels = [predict(row['text']) for row in rows]\n"
        f"    labels[0] = {flip!r}[labels[0]]\n"
        "    writer.writerows([row['id'], label] for row, label in zip(rows, labels))",
    )
    script = write_script(tmp_path / "script", {2: one_wrong, 3: perfect})
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(task_dir), "--backend", "scripted",
        "--backend-opt", f"script={script}", "--run-id", "r", "--runs-dir", str(runs),
        "--max-gen", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    state = run_json(runs, "r")
    gens = state["generations"]
    assert [g["incumbent"] for g in gens] == [True, True]
    assert gens[1]["score"] == pytest.approx(23 / 24)
    assert state["status"] == "finished"
    assert "cannot keep any child: the incumbent fails 1 of 24" in state["stop_reason"]
    assert "finished early" in result.stdout + result.stderr
    # --keep-rule raw keeps any gain, so the same script runs generation 3 and keeps it.
    result = sia(
        "run", "--task-dir", str(task_dir), "--backend", "scripted",
        "--backend-opt", f"script={script}", "--run-id", "raw", "--runs-dir", str(runs),
        "--max-gen", "3", "--keep-rule", "raw",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [g["incumbent"] for g in run_json(runs, "raw")["generations"]] == [True, True, True]


def test_heuristic_backend_says_why_it_stops(task_dir, tmp_path) -> None:
    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "heuristic",
        "--backend-opt",
        "levers=weights",
        "--run-id",
        "h",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 4, result.stderr  # stopped by the backend
    state = run_json(tmp_path / "runs", "h")
    assert state["status"] == "stopped" and len(state["generations"]) == 1
    assert "levers=weights, but the task model cannot be trained" in state["stop_reason"]
    record = json.loads((tmp_path / "runs" / "run_h" / "gen_1" / "generation.json").read_text())
    assert record["reward_shape"]["label"] == "binary"


def test_unknown_metric_key_stops_the_run_with_one_line(task_dir, tmp_path) -> None:
    toml = task_dir / "task.toml"
    toml.write_text(toml.read_text().replace('key = "accuracy"', 'key = "f1"'))
    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--max-gen",
        "1",
        "--run-id",
        "m",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: results.json has no numeric metric 'f1' (numeric keys: accuracy, correct, "
        "total); set [metric] key in task.toml"
    ]
    assert run_json(tmp_path / "runs", "m")["status"] == "failed"


def test_without_validation_split_the_run_says_it_selects_on_test(tmp_path, replay_dir) -> None:
    task = make_task(tmp_path / "t", validation=False)
    result = sia(
        "run",
        "--task-dir",
        str(task),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={replay_dir}",
        "--max-gen",
        "2",
        "--run-id",
        "nv",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 0, result.stderr
    assert "test (also used for selection)" in result.stdout
    assert "selection and the reported score use the same items" in result.stdout
    state = run_json(tmp_path / "runs", "nv")
    assert state["task"]["held_out"] is False
    assert state["best"]["selection_score"] == state["best"]["test_score"]


def test_run_id_collisions_and_missing_resume_are_one_line_errors(task_dir, tmp_path) -> None:
    runs = tmp_path / "runs"
    missing = sia("run", "--resume", "--run-id", "nope", "--runs-dir", str(runs))
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: nothing to resume")
    args = [
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--max-gen",
        "1",
        "--run-id",
        "dup",
        "--runs-dir",
        str(runs),
    ]
    first = sia(*args)
    assert first.returncode == 0, first.stderr
    again = sia(*args)  # the same run id a second time
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    # On --resume the stored configuration holds: an option that says otherwise is refused
    # (it used to be ignored without a word), one that agrees is accepted.
    resume = ["run", "--resume", "--run-id", "dup", "--runs-dir", str(runs), "--max-gen", "1"]
    other = sia(*resume, "--backend", "heuristic")
    assert other.returncode == 2, other.stdout
    assert other.stderr.strip() == (
        "error: --backend 'heuristic' differs from run 'dup''s own 'scripted': a resumed run "
        "keeps the configuration in its run.json; drop the option, or start a new run with "
        "another --run-id"
    )
    same = sia(*resume, "--backend", "scripted", "--task-dir", str(task_dir))
    assert same.returncode == 0, same.stderr


LLM_AGENT = """
import argparse, csv, os
from openai import OpenAI
p = argparse.ArgumentParser(); p.add_argument("--dataset_dir"); p.add_argument("--working_dir")
a = p.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])
rows = list(csv.DictReader(open(os.path.join(a.dataset_dir, "test.csv"))))
with open(os.path.join(a.working_dir, "predictions.csv"), "w", newline="") as fh:
    out = csv.writer(fh); out.writerow(["id", "label"])
    for row in rows:
        reply = client.chat.completions.create(
            model=os.environ["SIA_MODEL"], messages=[{"role": "user", "content": row["text"]}],
            extra_headers={os.environ["SIA_ITEM_HEADER"]: row["id"]})
        out.writerow([row["id"], reply.choices[0].message.content.strip()])
"""


def test_agent_calls_the_task_model_through_the_gateway(task_dir, tmp_path) -> None:
    from sia_core.testing.fakes import serve_in_subprocess

    script = write_script(tmp_path / "script", {1: LLM_AGENT})
    provider, url = serve_in_subprocess(0.0)  # its echo reply is never a label: accuracy 0
    try:
        result = sia(
            "run",
            "--task-dir",
            str(task_dir),
            "--backend",
            "scripted",
            "--backend-opt",
            f"script={script}",
            "--max-gen",
            "1",
            "--run-id",
            "g",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--task-model",
            "openai/fake",
            "--task-model-base",
            url,
            env={"OPENAI_API_KEY": "sk-fake"},
        )
    finally:
        provider.terminate()
    assert result.returncode == 0, result.stderr
    gen = tmp_path / "runs" / "run_g" / "gen_1"
    calls = [json.loads(line) for line in (gen / "calls.jsonl").read_text().splitlines()]
    selection_ids = [
        row.split(",")[0]
        for row in (
            tmp_path / "runs" / "run_g" / "views" / "selection" / "data" / "public" / "test.csv"
        )
        .read_text()
        .splitlines()[1:]
    ]
    assert [c["item_id"] for c in calls] == selection_ids
    assert all(c["status"] == "ok" and c["prompt_tokens"] == 7 for c in calls)
    trajectories = json.loads((gen / "agent_execution.json").read_text())["trajectories"]
    assert {t["item_id"] for t in trajectories} == set(selection_ids)
    assert all(len(t["calls"]) == 1 and t["status"] == "incorrect" for t in trajectories)
    state = run_json(tmp_path / "runs", "g")
    test_calls = (gen / "test" / "calls.jsonl").read_text().splitlines()
    assert len(test_calls) == 60  # the first incumbent also runs on the 60 test items
    assert state["tokens"]["prompt"] == 7 * (len(selection_ids) + 60)
    assert state["calls_without_price"] >= len(selection_ids)  # unknown price, not $0
    assert "unknown price" in result.stdout


def test_requirements_install_into_a_cached_isolated_environment(task_dir, tmp_path) -> None:
    agent = (
        "import click, sys\n"
        "print('prefix', sys.prefix)\n"
        + (
            Path(__file__).parent.parent
            / "examples"
            / "review-sentiment"
            / "reference"
            / "reference_target_agent.py"
        ).read_text()
    )
    script = write_script(tmp_path / "script", {1: agent, 2: agent})
    (script / "gen_1" / "requirements.txt").write_text("click\n")
    (script / "gen_2" / "requirements.txt").write_text("not a requirement !!\n")
    cache = tmp_path / "cache"
    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={script}",
        "--max-gen",
        "2",
        "--run-id",
        "r",
        "--runs-dir",
        str(tmp_path / "runs"),
        env={"SIA_CACHE_DIR": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    gens = run_json(tmp_path / "runs", "r")["generations"]
    assert gens[0]["status"] == "ok"
    envs = list((cache / "envs").iterdir())
    assert len(envs) == 1
    stdout = (tmp_path / "runs" / "run_r" / "gen_1" / "target_agent_stdout.log").read_text()
    assert f"prefix {envs[0]}" in stdout
    assert gens[1]["status"] == "failed"
    assert gens[1]["error"].startswith("requirements.txt line 1")
    assert "\n" not in gens[1]["error"]


def test_after_a_failed_generation_feedback_reads_the_parents_rewards(task_dir, tmp_path) -> None:
    script = write_script(tmp_path / "script", {2: "raise SystemExit(3)\n", 3: "pass\n"})
    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={script}",
        "--max-gen",
        "3",
        "--run-id",
        "p",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 0, result.stderr
    gen1 = json.loads((tmp_path / "runs" / "run_p" / "gen_1" / "generation.json").read_text())
    context = json.loads(
        (tmp_path / "runs" / "run_p" / "gen_3" / "feedback_context.json").read_text()
    )
    assert context["parent"] == 1
    assert context["reward_shape"] == gen1["reward_shape"] and context["reward_shape"]
