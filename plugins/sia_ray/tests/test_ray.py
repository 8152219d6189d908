"""`--sandbox ray` and `--policy-host ray` on a real Ray cluster of several nodes started
on this machine (ray.cluster_utils.Cluster), bounded in time and shut down after: the
containment checks every sandbox must pass, jobs spread over nodes, no provider key in
what reaches the cluster, a node lost mid-job, and a whole run against a local one."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sia_core.sandbox.bwrap import bwrap_usable
from sia_core.testing.cli import run_sia as sia
from sia_core.testing.sandbox_checks import CHECKS, Check
from sia_core.testing.yes_task import AGENT, write_tiny_model, write_yes_task

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not bwrap_usable(), reason="a Ray node's box needs bubblewrap"),
]

FAKE_KEY = "sk-ray-test-0123456789abcdef"


def start_cluster(workers: int = 2) -> Any:
    """A head that runs no jobs (0 CPUs) and `workers` nodes of 2 CPUs, each a real set of
    Ray processes; started from an environment without the test's provider key."""
    import ray
    from ray.cluster_utils import Cluster

    os.environ.pop("OPENAI_API_KEY", None)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(workers):
        cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes(timeout=60)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    return cluster


def stop_cluster(cluster: Any) -> None:
    import ray

    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    cluster = start_cluster()
    yield cluster
    stop_cluster(cluster)


@pytest.fixture
def sandbox(cluster: Any) -> Any:
    from sia_ray.sandbox import ray_sandbox

    return ray_sandbox({"address": cluster.address})


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_containment_checks_hold(check: Check, sandbox: Any, tmp_path: Path) -> None:
    check(sandbox, tmp_path)


def job(tmp_path: Path, body: str, name: str = "job", timeout_s: float = 60) -> Any:
    from sia_core.api import SandboxJob

    (tmp_path / name / "data").mkdir(parents=True)
    agent = tmp_path / name / "target_agent.py"
    agent.write_text(body)
    import sys

    return SandboxJob(
        agent_file=agent,
        dataset_dir=tmp_path / name / "data",
        output_dir=tmp_path / name / "out",
        python=sys.executable,
        timeout_s=timeout_s,
        memory_mb=2048,
        max_processes=64,
    )


def test_jobs_spread_over_nodes_and_no_key_reaches_the_cluster(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray
    from sia_ray.sandbox import RayBox

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)  # in sia's process only
    sent: list[Any] = []
    original = RayBox.remote

    def recording(self: RayBox, method: Any, *args: Any) -> Any:
        sent.append(args)
        return original(self, method, *args)

    monkeypatch.setattr(RayBox, "remote", recording)
    body = (
        "import os, sys, pathlib\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--working_dir') + 1])\n"
        "(out / 'env.txt').write_text(repr(sorted(os.environ.items())))\n"
    )
    for k in range(4):
        result = sandbox.run(job(tmp_path, body, f"job{k}"))
        assert result.exit_code == 0, result.stderr_tail
        text = (tmp_path / f"job{k}" / "out" / "env.txt").read_text()
        assert FAKE_KEY not in text and "OPENAI_API_KEY" not in text
    assert len(sandbox.transport.nodes) == 2  # SPREAD: both worker nodes ran jobs
    # nothing sia handed the cluster (actor arguments, argv, env, stream bytes) holds it
    assert sent and FAKE_KEY.encode() not in repr(sent).encode()

    @ray.remote(num_cpus=1)
    def environment() -> str:
        return repr(sorted(os.environ.items()))

    seen = ray.get([environment.options(scheduling_strategy="SPREAD").remote() for _ in range(4)])
    assert all(FAKE_KEY not in env for env in seen)


def test_an_unknown_option_and_no_cluster_are_one_line(tmp_path: Path) -> None:
    task = write_yes_task(tmp_path / "yes")
    bad = sia("run", "--task-dir", str(task), "--sandbox", "ray", "--sandbox-opt", "zone=eu",
              "--runs-dir", str(tmp_path / "runs"))  # fmt: skip
    assert bad.returncode == 2 and "sandbox 'ray' has no option 'zone'" in bad.stderr
    none = sia("run", "--task-dir", str(task), "--sandbox", "ray", "--sandbox-opt",
               "address=127.0.0.1:1", "--runs-dir", str(tmp_path / "runs"),
               timeout=120)  # fmt: skip
    assert none.returncode == 2 and "no Ray cluster at '127.0.0.1:1'" in none.stderr
    assert none.stderr.count("\n") == 1 and not (tmp_path / "runs").exists()


def test_a_node_lost_mid_job_fails_that_job_with_the_reason(tmp_path: Path) -> None:
    import ray
    from sia_ray.sandbox import LOST, ray_sandbox

    # a cluster of its own: one of its nodes is killed
    if ray.is_initialized():
        ray.shutdown()
    cluster = start_cluster(workers=1)
    try:
        sandbox = ray_sandbox({"address": cluster.address})
        results: list[Any] = []
        runner = threading.Thread(
            target=lambda: results.append(
                sandbox.run(job(tmp_path, "import time\ntime.sleep(60)\n", timeout_s=90))
            )
        )
        started = time.monotonic()
        runner.start()
        while not sandbox.transport.nodes and time.monotonic() - started < 60:
            time.sleep(0.2)
        time.sleep(3)  # the agent is running in the box
        worker = next(n for n in cluster.list_all_nodes() if n is not cluster.head_node)
        cluster.remove_node(worker)
        runner.join(120)
        assert not runner.is_alive() and results
        result = results[0]
        assert result.exit_code != 0 and LOST in result.stderr_tail, result.stderr_tail
        assert time.monotonic() - started < 60  # failed when the node went, not at timeout
    finally:
        stop_cluster(cluster)


@pytest.mark.timeout(1500)  # two whole runs: 2.5 min alone, over 5 min beside a full suite
def test_a_run_on_the_cluster_scores_what_the_local_run_scores(tmp_path: Path) -> None:
    """`sia run --sandbox ray --policy-host ray --parallel 2` on the tiny model against a
    running cluster (RAY_ADDRESS), and the same run with the local sandbox and policy:
    the same reference score, and a weights generation that learns on both."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    cluster = start_cluster()
    try:
        task, tiny = write_yes_task(tmp_path / "yes"), write_tiny_model(tmp_path / "tiny")
        script = tmp_path / "script"
        for number in (2, 3):
            (script / f"gen_{number}").mkdir(parents=True)
            (script / f"gen_{number}" / "target_agent.py").write_text(AGENT)
        decision = {"lever": "weights", "algorithm": "entropic", "rationale": "train",
                    "hyperparameters": {"rollout": {"rounds": 2}}}  # fmt: skip
        (script / "gen_2" / "decision.json").write_text(json.dumps(decision))
        common = ["--task-dir", str(task), "--backend", "scripted", "--backend-opt",
                  f"script={script}", "--task-model", str(tiny), "--lora-rank", "8",
                  "--lora-alpha", "16", "--lora-lr", "0.01", "--parallel", "2", "--max-gen",
                  "3", "--exact", "--runs-dir", str(tmp_path / "runs"),
                  # every scripted generation runs: on 8 selection items the paired
                  # rule would end the run once no child could clear it
                  "--keep-rule", "raw"]  # fmt: skip
        env = {"RAY_ADDRESS": cluster.address, "OPENAI_API_KEY": FAKE_KEY}
        scratch = Path(tempfile.gettempdir())
        before = set(scratch.glob("sia-worker-*")) | set(scratch.glob("sia-box-*"))
        on_ray = sia("run", *common, "--run-id", "ray", "--sandbox", "ray", "--policy-host",
                     "ray", env=env, timeout=1500)  # fmt: skip
        assert on_ray.returncode == 0, on_ray.stderr + on_ray.stdout
        # the policy actor's scratch (adapters) and the boxes go with the run
        after = set(scratch.glob("sia-worker-*")) | set(scratch.glob("sia-box-*"))
        assert after - before == set()
        local = sia("run", *common, "--run-id", "local", timeout=1500)
        assert local.returncode == 0, local.stderr + local.stdout

        def scores(run: str) -> list[Any]:
            state = json.loads((tmp_path / "runs" / f"run_{run}" / "run.json").read_text())
            return [(g["status"], g["score"]) for g in state["generations"]]

        on_cluster, here = scores("ray"), scores("local")
        assert [status for status, _ in on_cluster] == ["ok"] * 3 == [s for s, _ in here]
        # greedy evaluation with --exact is deterministic: the reference scores the same
        assert on_cluster[0] == here[0]
        # each weights generation learns, and each rollout call draws from its own seeded
        # generator whatever batch it shared on either host: the rounds sampled the same
        # rewards (the adapters still differ in their last bits: float sums in another order)
        assert on_cluster[1][1] > on_cluster[0][1] and here[1][1] > here[0][1]

        def rollouts(run: str) -> list[Any]:
            path = tmp_path / "runs" / f"run_{run}" / "gen_2" / "adapter" / "training.json"
            return [r["batch"] for r in json.loads(path.read_text())["rounds"]]

        assert rollouts("ray") == rollouts("local")
        record = json.loads((tmp_path / "runs" / "run_ray" / "gen_2" / "generation.json")
                            .read_text())  # fmt: skip
        isolation = " ".join(record["agent"]["isolation"])
        assert "a box on Ray node" in isolation and "shards: 2" in isolation
        boxes = [x for x in record["agent"]["isolation"] if "a box on Ray node" in x]
        assert boxes  # which node ran the selection shards
        assert (tmp_path / "runs" / "run_ray" / "gen_2" / "adapter" / "training.json").is_file()
    finally:
        stop_cluster(cluster)


def test_a_local_cluster_started_on_request_holds_no_key_and_stops_with_sia(
    tmp_path: Path,
) -> None:
    """`--sandbox-opt address=local`: sia starts a single-node cluster for the run from a
    scrubbed environment, and it is gone when sia exits."""
    import subprocess
    import sys

    script = (
        "import os, ray\n"
        "from sia_ray.cluster import connect\n"
        "print(connect({'address': 'local'}))\n"
        "@ray.remote\n"
        "def env():\n"
        "    return repr(os.environ)\n"
        f"print({FAKE_KEY!r} in ray.get(env.remote()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
        env={**os.environ, "OPENAI_API_KEY": FAKE_KEY, "RAY_ADDRESS": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    address, leaked = done.stdout.split()[-2:]
    assert address.startswith("127.0.0.1:") and leaked == "False"
    port = int(address.rsplit(":", 1)[1])
    import socket

    time.sleep(2)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 2):
        pass  # the head is gone with the sia process that started it


@pytest.mark.timeout(900)
def test_a_node_killed_during_a_generation_fails_it_and_the_run_goes_on(tmp_path: Path) -> None:
    """Every worker node is removed while generation 2's agent runs on one of them, and a
    fresh node joins: generation 2 fails with the reason, generation 3 runs on the new
    node, and the run finishes."""
    import subprocess
    import sys

    import ray
    from sia_ray.sandbox import LOST

    if ray.is_initialized():
        ray.shutdown()
    cluster = start_cluster(workers=1)
    try:
        task = write_yes_task(tmp_path / "yes")
        script = tmp_path / "script"
        slow = "import time\ntime.sleep(40)\n" + AGENT
        for number, body in ((2, slow), (3, AGENT)):
            (script / f"gen_{number}").mkdir(parents=True)
            (script / f"gen_{number}" / "target_agent.py").write_text(body)
        runs = tmp_path / "runs"
        from sia_core.testing.fakes import serve_in_subprocess

        provider, url = serve_in_subprocess(0.0)
        run = subprocess.Popen(
            [str(Path(sys.executable).with_name("sia")), "run", "--task-dir", str(task),
             "--backend", "scripted", "--backend-opt", f"script={script}", "--task-model",
             "openai/fake", "--task-model-base", url, "--sandbox", "ray", "--max-gen", "3",
             "--run-id", "k", "--runs-dir", str(runs)],
            env={**os.environ, "RAY_ADDRESS": cluster.address, "OPENAI_API_KEY": "sk-fake",
                 "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 240
            while not list((runs / "run_k").glob(".tmp-gen_2-*")):
                assert time.monotonic() < deadline and run.poll() is None, "gen 2 never started"
                time.sleep(0.5)
            time.sleep(8)  # generation 2's agent is asleep in its box
            for node in [n for n in cluster.list_all_nodes() if n is not cluster.head_node]:
                cluster.remove_node(node)
            cluster.add_node(num_cpus=2)
            out, err = run.communicate(timeout=600)
        finally:
            if run.poll() is None:
                run.kill()
            provider.terminate()
        assert run.returncode == 0, err[-3000:]
        gens = json.loads((runs / "run_k" / "run.json").read_text())["generations"]
        assert [g["status"] for g in gens] == ["ok", "failed", "ok"], gens
        assert LOST in gens[1]["error"], gens[1]["error"]
    finally:
        stop_cluster(cluster)
