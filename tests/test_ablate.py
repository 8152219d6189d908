"""`sia ablate`: the paper's four arms as ordinary runs with the same seeds and budget,
the table read back from their run.json files, an arm that cannot run as a row that
says why, and `--resume` after `kill -9` that runs no finished run again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sia_core.report.ablation import ARMS, SeedResult, table
from sia_core.testing.browser import open_page
from tests.conftest import EXAMPLE, sia
from tests.test_report import CHARTS, chromium


def _task(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    shutil.copytree(EXAMPLE, task, ignore=shutil.ignore_patterns("replay"))
    return task


def _state(root: Path, arm: str, seed: int) -> dict:
    return json.loads((root / f"run_{arm}-s{seed}" / "run.json").read_text())


@pytest.mark.slow
def test_four_arms_share_seeds_and_budget_and_the_table_is_their_runs(tmp_path: Path) -> None:
    result = sia("ablate", "--task-dir", str(_task(tmp_path)), "--seeds", "0", "1",
                 "--max-gen", "3", "--jobs", "2", "--runs-dir", str(tmp_path / "runs"),
                 "--ablation-id", "a", timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    root = tmp_path / "runs" / "ablation_a"
    record = json.loads((root / "ablation.json").read_text())
    for arm in ARMS:
        for seed in (0, 1):
            config = _state(root, arm, seed)["config"]
            assert config["seed"] == seed and config["backend"] == "heuristic"
            assert config["max_gen"] == (1 if arm == "initial" else 3)
            levers = {"initial": "both", "harness": "harness", "weights": "weights"}
            assert config["backend_options"]["levers"] == levers.get(arm, "both")
    for arm in ("initial", "harness", "both"):
        row = record["table"][arm]
        scores = [_state(root, arm, s)["best"]["test_score"] for s in (0, 1)]
        assert row["scores"] == scores
        assert row["mean"] == pytest.approx(sum(scores) / 2)
        low, high = row["interval"]
        assert low <= row["mean"] <= high
    # the example task has no model to train: the weights arm is a row that says why
    weights = record["table"]["weights"]
    assert "cannot be trained" in weights["cannot_run"] and weights["mean"] is None
    assert "| weights | cannot run: levers=weights" in result.stdout
    assert "interaction (both − harness − weights + initial): - (arm weights" in result.stdout
    assert record["wall_s"] > 0 and record["sum_run_s"] >= record["wall_s"] * 0.5
    if "OMP_NUM_THREADS" not in os.environ:  # two runs share the cores out
        assert record["threads_per_run"] == max(1, len(os.sched_getaffinity(0)) // 2)
    # each arm's run is an ordinary run
    show = sia("show", "harness-s0", "--runs-dir", str(root))
    assert show.returncode == 0 and "harness-s0" in show.stdout
    # its report: the table, the learning curves, a link to each run's own page; it
    # renders in Chromium with no error
    report = sia("report", "a", "--runs-dir", str(tmp_path / "runs"))
    assert report.returncode == 0, report.stderr
    page = (root / "report.html").read_text()
    assert 'href="run_harness-s1/report.html"' in page
    assert (root / "run_both-s0/report.html").is_file()
    assert "cannot run: levers=weights" in page
    seen = open_page((root / "report.html").as_uri(), {"charts": CHARTS}, screenshot=False,
                     binary=chromium())  # fmt: skip
    assert seen.errors == [] and seen.values["charts"] == 1
    _web_lists_and_serves_the_ablation(tmp_path / "runs")


def _web_lists_and_serves_the_ablation(runs: Path) -> None:
    from tests.test_report import _get

    argv = [str(Path(sys.executable).parent / "sia"), "web", "--runs-dir", str(runs),
            "--port", "0"]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
        status, _, body = _get(port, "/")
        assert status == 200 and b'href="/ablations/ablation_a/"' in body
        status, _, body = _get(port, "/ablations/ablation_a/")
        assert status == 200 and b'href="/ablations/ablation_a/runs/run_harness-s0/"' in body
        status, _, body = _get(port, "/ablations/ablation_a/runs/run_harness-s0/")
        assert status == 200 and b"harness-s0" in body
        for path in ("/ablations/ablation_a/../../../etc/passwd", "/ablations/%2e%2e/x/",
                     "/ablations/ablation_a/runs/../../../etc/passwd", "/ablations/nope/"):
            assert _get(port, path)[0] == 404, path  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_runs_side_by_side_share_the_cores_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from sia_core.cli import ablate

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(ablate.os, "sched_getaffinity", lambda pid: set(range(8)))
    assert ablate.threads_per_run(1) is None  # one run at a time: torch takes every core
    assert ablate.threads_per_run(2) == 4 and ablate.threads_per_run(3) == 2
    assert ablate.threads_per_run(16) == 1
    env = ablate._env(4)
    assert env is not None and {env[v] for v in ablate.THREAD_VARIABLES} == {"4"}
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment goes on
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting is kept
    assert ablate.threads_per_run(2) is None and ablate._env(None) is None


def test_interaction_and_its_interval_from_seeds_and_items() -> None:
    def seed(s: int, rewards: list[float]) -> SeedResult:
        items = {f"i{k}": r for k, r in enumerate(rewards)}
        score = sum(rewards) / len(rewards)
        return SeedResult(s, "finished", score, 1.0, 0, 2, "harness", None, 3, items)

    arms = {
        "initial": [seed(0, [0, 0, 1, 0]), seed(1, [0, 1, 0, 0])],
        "harness": [seed(0, [1, 0, 1, 0]), seed(1, [1, 1, 0, 0])],
        "weights": [seed(0, [0, 1, 1, 0]), seed(1, [0, 1, 1, 0])],
        "both": [seed(0, [1, 1, 1, 1]), seed(1, [1, 1, 1, 0])],
    }
    data = table(arms)
    means = {arm: data["table"][arm]["mean"] for arm in ARMS}
    assert means == {"initial": 0.25, "harness": 0.5, "weights": 0.5, "both": 0.875}
    inter = data["interaction"]
    assert inter["value"] == pytest.approx(0.875 - 0.5 - 0.5 + 0.25)
    low, high = inter["interval"]
    assert low <= inter["value"] <= high and low < high


@pytest.mark.slow
def test_resume_after_kill_9_runs_no_finished_run_again(tmp_path: Path) -> None:
    task = _task(tmp_path)
    runs = tmp_path / "runs"
    args = [str(Path(sys.executable).parent / "sia"), "ablate", "--task-dir", str(task),
            "--seeds", "0", "1", "--max-gen", "3", "--runs-dir", str(runs),
            "--ablation-id", "k"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    root = runs / "ablation_k"
    deadline = time.time() + 300
    finished: dict[str, float] = {}
    while time.time() < deadline and proc.poll() is None:
        finished = {
            p.parent.name: p.stat().st_mtime
            for p in root.glob("run_*/run.json")
            if json.loads(p.read_text() or "{}").get("status") in ("finished", "stopped")
        }
        if len(finished) >= 3:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= len(finished) < 8, finished
    resumed = sia("ablate", "--resume", "--ablation-id", "k", "--runs-dir", str(runs),
                  timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    for name, mtime in finished.items():  # not run again: untouched, and said so
        assert (root / name / "run.json").stat().st_mtime == mtime
        assert f"{name.removeprefix('run_')}: already" in resumed.stderr
    record = json.loads((root / "ablation.json").read_text())
    assert all(record["table"][arm]["seeds"] == [0, 1] for arm in ARMS)


def test_ablate_refuses_what_it_owns_in_one_line(tmp_path: Path) -> None:
    result = sia("ablate", "--task-dir", str(_task(tmp_path)), "--seeds", "0",
                 "--runs-dir", str(tmp_path / "runs"), "--seed", "3")  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--seed: sia ablate sets it for every arm" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
