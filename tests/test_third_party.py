"""A third party's RL algorithm, pip-installed during the test, shows up everywhere an
algorithm should, with no change to sia."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, sia

pytestmark = pytest.mark.slow
PACKAGE = REPO / "tests" / "third_party" / "sia_rl_toy"


@pytest.fixture
def installed(tmp_path: Path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # A copy: building in the source tree would leave build/ and egg-info behind.
    source = tmp_path / "sia_rl_toy"
    subprocess.run(["cp", "-r", str(PACKAGE), str(source)], check=True)
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(source)], check=True)
    yield
    subprocess.run([*pip, "uninstall", "-y", "sia-rl-toy"], check=True)


def test_pip_installed_algorithm_is_listed_ranked_and_offered(
    installed, task_dir, replay_dir, tmp_path
) -> None:
    listed = {r["name"]: r for r in json.loads(sia("plugins", "--json").stdout)}
    assert listed["sia_rl_toy"]["distribution"] == "sia-rl-toy"
    assert listed["sia_rl_toy"]["registered"] == {"rl_algorithms": ["toy-bc"]}

    ranking = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "from sia_core import plugins\n"
                "infos = [s.info for s in plugins.rl_algorithms()]\n"
                "report = plugins.reward_classifier('stats').classify([0.0] * 9 + [1.0], infos)\n"
                "print(report.ranking)"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'toy-bc'" in ranking

    result = sia(
        "run",
        "--task-dir",
        str(task_dir),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={replay_dir}",
        "--max-gen",
        "2",
        "--run-id",
        "tp",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 0, result.stderr
    context = json.loads(
        (tmp_path / "runs" / "run_tp" / "gen_2" / "feedback_context.json").read_text()
    )
    offered = {a["name"]: a for a in context["algorithms"]}
    assert offered["toy-bc"]["reward_shapes"] == ["sparse"]
    assert {"grpo", "ppo", "entropic"} <= set(offered)
