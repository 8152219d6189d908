"""`pip install sia-rl-dpo`, for real: each new RL plugin is built as a wheel and installed
into a fresh virtual environment that has sia-core (also from a wheel) but no plugin;
nothing in core changes, and the algorithm appears in `sia plugins`, in the reward-shape
classifier's ranking, in the Feedback-Agent's algorithm list, and a decision.json can
pick it.

The fresh environment gets the third-party libraries (torch, peft, litellm, ...) from
this one through a path file that names a directory of links to them, every sia
distribution and editable-install hook left out, so that the package registry is not
needed and nothing sia-made leaks in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sia_core.testing.yes_task import AGENT, write_tiny_model, write_yes_task

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
NEW = ("dpo", "bon", "reinforce")
# A metric only that algorithm's trainer reports: proof that the wheel's trainer ran.
OWN_METRIC = {"dpo": "pairs", "bon": "groups_kept", "reinforce": "informative_samples"}


def _third_party_view(dest: Path) -> Path:
    """Links to this environment's site-packages entries except sia's own."""
    dest.mkdir(parents=True)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if name.startswith(("sia_", "sia-", "__editable__", "_sia")) or name.endswith(".pth"):
            continue
        (dest / entry.name).symlink_to(entry)
    return dest


def _run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _wheel(source: Path, dest: Path) -> Path:
    # --no-build-isolation: build with this environment's setuptools, offline
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", dest, source,
    )  # fmt: skip
    name = source.name if source != REPO else "sia_core"
    [wheel] = dest.glob(f"{name}-*.whl")
    return wheel


def test_new_algorithms_install_from_wheels_into_a_plain_sia(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    core = _wheel(REPO, wheels)
    plugin_wheels = [_wheel(REPO / "plugins" / f"sia_rl_{n}", wheels) for n in NEW]
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    (site / "third_party.pth").write_text(f"{_third_party_view(tmp_path / 'third_party')}\n")

    def pip_install(wheel: Path) -> None:
        # --no-index: every dependency must already be there, nothing is downloaded
        _run(python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", wheel)

    pip_install(core)
    sia = venv / "bin" / "sia"
    plain = _run(sia, "plugins")
    assert "builtin_backends" in plain
    for name in NEW:
        assert f"sia_rl_{name}" not in plain
    for wheel in plugin_wheels:
        pip_install(wheel)
    listed = _run(sia, "plugins")
    for name in NEW:
        assert f"rl_algorithms: {name}" in listed, listed
        assert f"RL algorithm {name!r}" in listed
    where = _run(python, "-c", "import sia_rl_dpo, sia_core; print(sia_rl_dpo.__file__)")
    assert where.startswith(str(site)), "the plugin must come from the wheel, not a checkout"

    # A real run in the fresh environment: generation 1 is the reference harness on a tiny
    # model; generations 2-4 pull the weights lever with each new algorithm by name.
    task = write_yes_task(tmp_path / "yes-task")
    model = write_tiny_model(tmp_path / "tiny-model")
    script = tmp_path / "script"
    for number, name in enumerate(NEW, start=2):
        gen = script / f"gen_{number}"
        gen.mkdir(parents=True)
        (gen / "target_agent.py").write_text(AGENT)
        decision = {
            "lever": "weights",
            "algorithm": name,
            "rationale": f"pick {name}",
            "hyperparameters": {"rollout": {"k": 4, "items": 8, "rounds": 1}},
        }
        (gen / "decision.json").write_text(json.dumps(decision))
    runs = tmp_path / "runs"
    _run(
        sia, "run", "--task-dir", task, "--backend", "scripted", "--backend-opt",
        f"script={script}", "--task-model", model, "--lora-lr", "0.01", "--max-gen", "4",
        "--run-id", "w", "--runs-dir", runs, "--sandbox", "process",
        # every scripted generation runs: on 8 selection items the paired rule would end
        # the run once no child could clear it
        "--keep-rule", "raw",
        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )  # fmt: skip
    run = runs / "run_w"
    shape = json.loads((run / "gen_1" / "generation.json").read_text())["reward_shape"]
    assert set(NEW) <= set(shape["ranking"])
    offered = json.loads((run / "gen_2" / "feedback_context.json").read_text())["algorithms"]
    assert set(NEW) <= {info["name"] for info in offered}
    generations = json.loads((run / "run.json").read_text())["generations"]
    for number, name in enumerate(NEW, start=2):
        assert generations[number - 1]["algorithm"] == name, generations[number - 1]
        training = json.loads((run / f"gen_{number}" / "adapter" / "training.json").read_text())
        assert training["algorithm"] == name
        assert OWN_METRIC[name] in training["rounds"][0]["metrics"], training
