"""`--parallel N` on the local sandbox and on a Ray cluster: the same evaluation, its
wall time for each, and what Ray adds per sandbox job.

A real Ray cluster of two worker nodes (2 CPUs each, a head that runs nothing) is started
on this machine with ray.cluster_utils.Cluster and shut down at the end. The harness and
task are parallel_shards.py's: one fake-model call per row, one at a time, so a job's
wall time is rows / N x latency plus what its sandbox costs. For each N it prints both
walls, their ratio, and Ray's overhead per job: (Ray wall - local wall) / N, the cost of
placing an actor, starting its box and carrying the streams over Ray. The scores must be
equal everywhere; the script stops if they are not.

    python benchmarks/ray_shards.py [--rows 60] [--latency 0.05] [--parallel 1 2 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from parallel_shards import write_task  # noqa: E402

from sia_core.loop.run_config import RunConfig  # noqa: E402
from sia_core.loop.wiring import make_executor  # noqa: E402
from sia_core.tasks.task import load_task_dir  # noqa: E402
from sia_core.testing.fakes import serve_in_subprocess  # noqa: E402


def measure(task_root: Path, tmp: Path, url: str, sandbox: str, options: dict, n: int):  # noqa: ANN201
    config = RunConfig(task_dir=str(task_root), task_model="openai/fake", task_model_base=url,
                       sandbox=sandbox, sandbox_options=options, parallel=n)  # fmt: skip
    run_path = tmp / f"{sandbox}_{n}"
    executor = make_executor(config, run_path)
    start = time.perf_counter()
    outcome = executor.run_split(1, "test", load_task_dir(task_root), task_root / "agent.py",
                                 run_path / "eval", sys.executable, None)  # fmt: skip
    wall = time.perf_counter() - start
    if outcome.error:
        raise SystemExit(f"{sandbox} --parallel {n}: {outcome.error}")
    return wall, outcome.evaluation.score, getattr(executor.sandbox, "transport", None)


def main() -> None:
    import ray
    from ray.cluster_utils import Cluster

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes(timeout=60)
    up = time.perf_counter() - started
    provider, url = serve_in_subprocess(args.latency)
    os.environ["OPENAI_API_KEY"] = "sk-fake"
    rows, nodes = [], set()
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            task_root = write_task(tmp / "task", args.rows)
            for n in args.parallel:
                local, score_local, _ = measure(task_root, tmp, url, "local", {}, n)
                on_ray, score_ray, transport = measure(
                    task_root, tmp, url, "ray", {"address": cluster.address}, n
                )
                if score_local != score_ray:
                    raise SystemExit(f"--parallel {n}: local {score_local}, ray {score_ray}")
                nodes |= transport.nodes
                rows.append((n, local, on_ray, score_local))
    finally:
        provider.terminate()
        ray.shutdown()
        cluster.shutdown()
    print(f"Ray cluster: 2 worker nodes of 2 CPUs (up in {up:.1f} s); {os.cpu_count()} cores; "
          f"jobs ran on {len(nodes)} nodes")  # fmt: skip
    print(f"{args.rows} rows, one call per row at a time, fake model latency "
          f"{args.latency * 1000:.0f} ms; the same score on both for every N")  # fmt: skip
    print(f"{'N':>3} {'local s':>8} {'ray s':>7} {'ray/local':>9} {'ray overhead/job s':>19}")
    for n, local, on_ray, _ in rows:
        print(f"{n:>3} {local:>8.2f} {on_ray:>7.2f} {on_ray / local:>9.2f} "
              f"{(on_ray - local) / n:>19.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
