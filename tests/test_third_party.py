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
THIRD_PARTY = REPO / "tests" / "third_party"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def pip_install(package: str, tmp_path: Path) -> None:
    # A copy: building in the source tree would leave build/ and egg-info behind.
    source = tmp_path / package
    subprocess.run(["cp", "-r", str(THIRD_PARTY / package), str(source)], check=True)
    subprocess.run([*PIP, "install", "--no-deps", "--no-build-isolation", str(source)], check=True)


@pytest.fixture
def installed(tmp_path: Path):
    pip_install("sia_rl_toy", tmp_path)
    yield
    subprocess.run([*PIP, "uninstall", "-y", "sia-rl-toy"], check=True)


@pytest.fixture
def task_pack(tmp_path: Path):
    pip_install("sia_tasks_toy", tmp_path)
    yield
    subprocess.run([*PIP, "uninstall", "-y", "sia-tasks-toy"], check=True)


def test_pip_installed_task_pack_is_listed_and_runs(task_pack, tmp_path: Path) -> None:
    listed = sia("tasks")
    line = next(x for x in listed.stdout.splitlines() if "toy-double" in x)
    assert "toy" in line and "ready" in line
    result = sia(
        "run",
        "--task",
        "toy-double",
        "--backend",
        "scripted",
        "--max-gen",
        "1",
        "--run-id",
        "pack",
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "runs" / "run_pack" / "run.json").read_text())
    assert run["task"]["name"] == "toy-double"
    results = json.loads((tmp_path / "runs" / "run_pack" / "gen_1" / "results.json").read_text())
    assert results["summary"]["accuracy"] == 0.75


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


def test_a_third_party_plugins_tests_run_on_the_shipped_testing_kit_alone(
    installed, tmp_path: Path
) -> None:
    # Outside the repository: `tests` (sia's own test package) cannot be imported there.
    copy = tmp_path / "elsewhere"
    subprocess.run(["cp", "-r", str(THIRD_PARTY / "sia_rl_toy" / "tests"), str(copy)], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(copy),
         str(copy)],
        cwd=copy, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_no_plugin_test_imports_sias_own_test_package() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in [*REPO.glob("plugins/*/tests/*.py"), *THIRD_PARTY.rglob("*.py")]
        if "from tests" in path.read_text() or "import tests" in path.read_text()
    ]
    assert offenders == []
