"""Gateway throughput: N items through a sandboxed agent against a fake model.

The fake provider answers after a fixed latency; the agent (inside the local sandbox,
reaching the gateway through the namespace relay) sends one call per item from a pool
of C threads. Ideal wall time is items x latency / concurrency. Prints the ratio of
measured to ideal and the latency each call gained on the way (sandbox relay + gateway
+ litellm), measured in one run.

    python benchmarks/gateway_throughput.py [--items 1000] [--latency 0.1] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sia_core.gateway import Gateway  # noqa: E402
from sia_core.models import LiteLLMModel  # noqa: E402
from sia_core.sandbox.api import SandboxJob  # noqa: E402
from sia_core.sandbox.local import LocalSandbox  # noqa: E402
from sia_core.testing.fakes import serve_in_subprocess  # noqa: E402

AGENT = """
import argparse, json, os, time
from concurrent.futures import ThreadPoolExecutor
import httpx
from openai import OpenAI
p = argparse.ArgumentParser(); p.add_argument("--dataset_dir"); p.add_argument("--working_dir")
p.add_argument("--items", type=int); p.add_argument("--concurrency", type=int)
a = p.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"],
                http_client=httpx.Client(limits=httpx.Limits(max_connections=a.concurrency)))

def one(i):
    start = time.perf_counter()
    client.chat.completions.create(model=os.environ["SIA_MODEL"],
        messages=[{"role": "user", "content": f"item {i}"}],
        extra_headers={"X-SIA-Item": str(i)})
    return time.perf_counter() - start

start = time.perf_counter()
with ThreadPoolExecutor(a.concurrency) as pool:
    latencies = list(pool.map(one, range(a.items)))
wall = time.perf_counter() - start
json.dump({"wall": wall, "latencies": latencies},
          open(os.path.join(a.working_dir, "stats.json"), "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "data").mkdir()
        (tmp / "agent.py").write_text(AGENT)
        provider, url = serve_in_subprocess(args.latency)
        try:
            model = LiteLLMModel("openai/fake", api_base=url, api_key="sk-fake")
            cpu_start = time.process_time()
            with Gateway(model, tmp / "calls.jsonl", concurrency=args.concurrency) as gateway:
                result = LocalSandbox().run(
                    SandboxJob(
                        agent_file=tmp / "agent.py",
                        dataset_dir=tmp / "data",
                        output_dir=tmp / "out",
                        python=sys.executable,
                        timeout_s=600,
                        memory_mb=8192,
                        max_processes=64,
                        gateway=gateway.link(),
                        extra_args=(
                            "--items",
                            str(args.items),
                            "--concurrency",
                            str(args.concurrency),
                        ),
                    )
                )
                usage = gateway.usage.as_dict()
            cpu = time.process_time() - cpu_start
        finally:
            provider.terminate()
        if not result.ok:
            raise SystemExit(f"agent failed: {result.reason}\n{result.stderr_tail}")
        stats = json.loads((tmp / "out" / "stats.json").read_text())
        calls = [json.loads(line) for line in (tmp / "calls.jsonl").read_text().splitlines()]
    ideal = args.items * args.latency / args.concurrency
    wall = stats["wall"]
    agent_latency = statistics.mean(stats["latencies"])
    gateway_latency = statistics.mean(c["latency_s"] for c in calls)
    print(f"isolation: {result.isolation[0]}")
    print(
        f"items {args.items}, model latency {args.latency * 1000:.0f} ms, "
        f"concurrency {args.concurrency}"
    )
    print(f"calls logged: {len(calls)}, items tagged: {usage['items']}")
    print(f"wall {wall:.2f} s, ideal {ideal:.2f} s, ratio {wall / ideal:.2f}")
    print(
        f"latency per call seen by the agent: {agent_latency * 1000:.1f} ms "
        f"(added {(agent_latency - args.latency) * 1000:.1f} ms over the model)"
    )
    print(
        f"  of which gateway -> litellm -> provider: {gateway_latency * 1000:.1f} ms "
        f"(added {(gateway_latency - args.latency) * 1000:.1f} ms)"
    )
    print(
        f"gateway process CPU per call: {cpu / len(calls) * 1000:.1f} ms "
        f"(one interpreter: at most {len(calls) / cpu:.0f} calls/s before CPU, not the "
        "model, sets the pace)"
    )


if __name__ == "__main__":
    main()
