"""The `modal` sandbox over the local stand-in transport (a bubblewrap box whose exec
gives the same stdio as Modal's Sandbox.exec): the containment checks every sandbox
must pass, and a whole `sia run --sandbox modal`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sia_modal.sandbox import modal_sandbox

from sia_core.sandbox.bwrap import bwrap_usable
from sia_core.testing.cli import run_sia as sia
from sia_core.testing.sandbox_checks import CHECKS, Check
from sia_core.testing.yes_task import AGENT, write_tiny_model, write_yes_task

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not bwrap_usable(), reason="the stand-in box needs bubblewrap"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_containment_checks_hold(check: Check, tmp_path: Path) -> None:
    check(modal_sandbox({"transport": "standin"}), tmp_path)


def test_bad_options_are_one_line(tmp_path: Path, sia_yes_task: Path) -> None:
    task_dir = sia_yes_task  # a fixture of sia-core's pytest11 plugin, no conftest
    from modal.config import config

    cases = [
        ("transport=ssh", "transport must be modal or standin"),
        ("cpu=lots", "cpu must be a number"),
        ("region=eu", "has no option 'region'"),
    ]
    if not config.get("token_id"):  # a machine without a Modal token is told how to get one
        cases.append(("gpu=H100", "no Modal token: run `modal token new`"))
    for option, words in cases:
        result = sia(
            "run",
            "--task-dir",
            str(task_dir),
            "--sandbox",
            "modal",
            "--sandbox-opt",
            option,
            "--runs-dir",
            str(tmp_path / "runs"),
            "--max-gen",
            "1",
        )
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0


def test_three_generations_in_the_modal_sandbox_with_the_policy_on_the_host(
    tmp_path: Path,
) -> None:
    # `sia run --sandbox modal --policy-host modal`, both over their stand-ins: the agent
    # runs in a box with no network and reaches the gateway through the exec-stream
    # relay; the gateway's model is the tiny open-weight policy, served and trained by
    # the policy host's worker (every call pickled both ways, as Modal's method calls
    # are). Generation 2 pulls the weights lever, generation 3 the harness lever. Every
    # evaluation and rollout is spread over two boxes (--parallel 2).
    task, tiny = write_yes_task(tmp_path / "yes"), write_tiny_model(tmp_path / "tiny")
    script = tmp_path / "script"
    for number in (2, 3):
        (script / f"gen_{number}").mkdir(parents=True)
        (script / f"gen_{number}" / "target_agent.py").write_text(AGENT)
    decision = {
        "lever": "weights",
        "algorithm": "entropic",
        "rationale": "train on the rollouts",
        "hyperparameters": {"rollout": {"rounds": 4}},
    }
    (script / "gen_2" / "decision.json").write_text(json.dumps(decision))
    volume = tmp_path / "volume"
    runs = tmp_path / "runs"
    result = sia(
        "run",
        "--task-dir",
        str(task),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={script}",
        "--task-model",
        str(tiny),
        "--sandbox",
        "modal",
        "--sandbox-opt",
        "transport=standin",
        "--policy-host",
        "modal",
        "--policy-host-opt",
        "transport=standin",
        "--policy-host-opt",
        f"volume={volume}",
        "--lora-rank",
        "8",
        "--lora-alpha",
        "16",
        "--lora-lr",
        "0.01",
        "--parallel",
        "2",
        "--max-gen",
        "3",
        # every scripted generation runs: on 8 selection items the paired rule would end
        # the run once no child could clear it
        "--keep-rule",
        "raw",
        "--run-id",
        "p",
        "--runs-dir",
        str(runs),
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    state = json.loads((runs / "run_p" / "run.json").read_text())
    gens = state["generations"]
    assert len(gens) == 3 and all(g["status"] == "ok" for g in gens), gens
    assert gens[1]["lever"] == "weights" and gens[1]["score"] > gens[0]["score"]
    assert gens[2]["lever"] == "harness"
    record = json.loads((runs / "run_p" / "gen_2" / "generation.json").read_text())
    isolation = " ".join(record["agent"]["isolation"])
    assert "stand-in for a Modal sandbox" in isolation and "exec-stream relay" in isolation
    assert "shards: 2" in isolation
    rollouts = sorted((runs / "run_p" / "gen_2" / "rollouts").glob("round_*/run_*"))
    assert len(rollouts) >= 4
    for split in (runs / "run_p" / "gen_2", *rollouts):
        assert (split / "shards" / "2" / "predictions.csv").is_file(), split
    calls = (runs / "run_p" / "gen_2" / "calls.jsonl").read_text().splitlines()
    assert calls and {json.loads(line)["status"] for line in calls} == {"ok"}
    adapter = runs / "run_p" / "gen_2" / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    training = json.loads((adapter / "training.json").read_text())
    assert training["rounds"][0]["batch"]["samples"] > 0
    # The host kept the adapter too (Modal: in its Volume), byte for byte the same.
    kept = list(volume.glob("run_p/gen_2/*/adapter_model.safetensors"))
    assert len(kept) == 1
    assert kept[0].read_bytes() == (adapter / "adapter_model.safetensors").read_bytes()
    assert state["config"]["policy_host"] == "modal"


def test_an_agent_that_kills_the_box_machinery_fails_its_generation_only(
    tmp_path: Path,
) -> None:
    # Everything in the box shares the agent's uid: it can kill the exec init, the relay
    # and the process-cap watcher. That must end as a failed job with the reason, not as
    # an exception that stops the run, and the cap's watcher must not vanish unnoticed.
    from sia_core.testing.sandbox_checks import make_scene, run

    scene = make_scene(tmp_path)
    result = run(
        modal_sandbox({"transport": "standin"}),
        scene,
        "import signal\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit() and int(pid) not in (1, os.getpid()):\n"
        "        try: os.kill(int(pid), signal.SIGKILL)\n"
        "        except OSError: pass\n"
        "open(os.path.join(a.working_dir, 'out.txt'), 'w').write('x')\n",
    )
    assert not result.ok
    assert result.violation is not None
    assert "watcher" in result.violation or "did not hand back" in result.violation


def test_an_agent_that_stops_the_cap_watcher_is_caught(tmp_path: Path) -> None:
    from sia_core.testing.sandbox_checks import make_scene, run

    scene = make_scene(tmp_path)
    result = run(
        modal_sandbox({"transport": "standin"}),
        scene,
        "import signal, subprocess\n"
        "for pid in os.listdir('/proc'):\n"
        "    try: cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
        "    except OSError: continue\n"
        "    if b'cap = int' in cmd: os.kill(int(pid), signal.SIGKILL)\n"
        "procs = [subprocess.Popen(['sleep', '5']) for _ in range(30)]\n"
        "print(len(procs))\n"
        "for p in procs: p.kill()\n",
        max_processes=16,
    )
    assert result.violation == (
        "process cap not enforced: the agent stopped the watcher (limit 16)"
    ), (result.violation, result.stderr_tail)
    assert not result.ok


def test_a_flood_of_files_is_refused_like_the_local_sandbox_refuses_it(tmp_path: Path) -> None:
    from sia_core.sandbox.api import OUTPUTS_REFUSED
    from sia_core.sandbox.copyback import MAX_FILES
    from sia_core.testing.sandbox_checks import make_scene, run

    scene = make_scene(tmp_path)
    result = run(
        modal_sandbox({"transport": "standin"}),
        scene,
        f"for i in range({MAX_FILES + 1}):\n"
        "    open(os.path.join(a.working_dir, f'f{i}'), 'w').close()\n",
    )
    assert result.exit_code == 0, result.stderr_tail
    assert result.violation == f"{OUTPUTS_REFUSED}the agent left more than {MAX_FILES} files"
    assert not scene.out.exists() or not any(scene.out.glob("f*"))
