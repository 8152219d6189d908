"""Gateway throughput: N items through a sandboxed agent against a fake model, on both
of the gateway's paths.

The fake provider (its own process) answers after a fixed latency; the agent (inside the
local sandbox, reaching the gateway through the namespace relay) sends one call per item
from C concurrent connections. Ideal wall time is items x latency / concurrency. For
each path (passthrough: forwarded as it is; litellm: translated) it prints the ratio of
measured to ideal, the median and mean latency each call gained over the model's
(sandbox relay + gateway + upstream client), the gateway's CPU per call, and how many
calls failed, all measured in one run.

    python benchmarks/gateway_throughput.py [--items 1000] [--latency 0.1]
        [--concurrency 32 256] [--paths passthrough litellm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sia_core.gateway.server import Gateway  # noqa: E402
from sia_core.gateway.upstream import OpenAIWireModel  # noqa: E402
from sia_core.policy.models import LiteLLMModel  # noqa: E402
from sia_core.sandbox.api import SandboxJob  # noqa: E402
from sia_core.sandbox.local import LocalSandbox  # noqa: E402
from sia_core.testing.fakes import serve_in_subprocess  # noqa: E402

# The agent's client is aiohttp's (as light as Python gets: httpx's pool costs more CPU
# than the gateway at 256 connections), so that what is measured is the gateway's share.
AGENT = """
import argparse, asyncio, json, os, time
import aiohttp
p = argparse.ArgumentParser(); p.add_argument("--dataset_dir"); p.add_argument("--working_dir")
p.add_argument("--items", type=int); p.add_argument("--concurrency", type=int)
a = p.parse_args()

async def main():
    headers = {"Authorization": "Bearer " + os.environ["SIA_API_KEY"]}
    url = os.environ["SIA_BASE_URL"] + "/chat/completions"
    latencies, failures = [], []
    todo = list(range(a.items))
    connector = aiohttp.TCPConnector(limit=a.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def worker():
            while todo:
                i = todo.pop()
                body = {"model": os.environ["SIA_MODEL"],
                        "messages": [{"role": "user", "content": f"item {i}"}]}
                start = time.perf_counter()
                try:
                    async with session.post(url, json=body, headers={"X-SIA-Item": str(i)}) as r:
                        r.raise_for_status()
                        (await r.json())["choices"][0]["message"]["content"]
                    latencies.append(time.perf_counter() - start)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(a.concurrency)))
        wall = time.perf_counter() - start
    json.dump({"wall": wall, "latencies": latencies, "failures": failures},
              open(os.path.join(a.working_dir, "stats.json"), "w"))

asyncio.run(main())
"""


def model_for(path: str, url: str) -> object:
    if path == "passthrough":
        return OpenAIWireModel("openai/fake", "fake", url.rstrip("/"), api_key="sk-fake")
    return LiteLLMModel("openai/fake", api_base=url, api_key="sk-fake")


def run_agent(
    path: str, url: str, tmp: Path, items: int, concurrency: int
) -> tuple[dict, list[dict], float, str]:
    """One pass of the agent; `direct` calls the provider itself, without sandbox or
    gateway: the baseline the other paths are measured against."""
    (tmp / "data").mkdir()
    (tmp / "out").mkdir()
    (tmp / "agent.py").write_text(AGENT)
    extra = ("--items", str(items), "--concurrency", str(concurrency))
    if path == "direct":
        env = {**os.environ, "SIA_BASE_URL": url.rstrip("/"), "SIA_API_KEY": "x"}
        env["SIA_MODEL"] = "fake"
        argv = [sys.executable, str(tmp / "agent.py"), "--dataset_dir", str(tmp / "data")]
        subprocess.run([*argv, "--working_dir", str(tmp / "out"), *extra], env=env, check=True)
        return json.loads((tmp / "out" / "stats.json").read_text()), [], 0.0, "none"
    cpu_start = time.process_time()
    with Gateway(model_for(path, url), tmp / "calls.jsonl", concurrency=concurrency) as gateway:
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
                extra_args=extra,
            )
        )
    cpu = time.process_time() - cpu_start
    if not result.ok:
        raise SystemExit(f"agent failed: {result.reason}\n{result.stderr_tail}")
    stats = json.loads((tmp / "out" / "stats.json").read_text())
    calls = [json.loads(line) for line in (tmp / "calls.jsonl").read_text().splitlines()]
    return stats, calls, cpu, result.isolation[0]


def measure(path: str, url: str, items: int, latency: float, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp_name:
        stats, calls, cpu, isolation = run_agent(path, url, Path(tmp_name), items, concurrency)
    seen = stats["latencies"]
    return {
        "path": path,
        "concurrency": concurrency,
        "isolation": isolation,
        "wall": stats["wall"],
        "ratio": stats["wall"] / (items * latency / concurrency),
        "median_ms": statistics.median(seen) * 1000 if seen else float("nan"),
        "p90_ms": statistics.quantiles(seen, n=10)[-1] * 1000 if len(seen) > 1 else float("nan"),
        "cpu_ms_per_call": cpu / len(calls) * 1000 if calls else float("nan"),
        "logged": len(calls) if path != "direct" else len(seen),
        "failures": stats["failures"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--paths", nargs="+", default=["passthrough", "litellm"])
    args = parser.parse_args()
    provider, url = serve_in_subprocess(args.latency)
    rows = []
    try:
        for concurrency in args.concurrency:
            for path in ["direct", *args.paths]:
                rows.append(measure(path, url, args.items, args.latency, concurrency))
    finally:
        provider.terminate()
    print(f"sandbox: {next(r['isolation'] for r in rows if r['path'] != 'direct')}")
    print(
        f"{args.items} items, fake model latency {args.latency * 1000:.0f} ms, "
        f"{os.cpu_count()} cores (agent, relay, gateway and provider share them)"
    )
    print(
        f"{'path':<12} {'conc':>5} {'wall s':>7} {'x ideal':>7} {'median ms':>9} "
        f"{'added ms':>8} {'p90 ms':>7} {'gw CPU ms/call':>14} {'served':>6} {'failed':>6}"
    )
    baseline: dict[int, float] = {}
    for row in rows:
        if row["path"] == "direct":
            baseline[row["concurrency"]] = row["median_ms"]
        added = row["median_ms"] - baseline[row["concurrency"]]
        print(
            f"{row['path']:<12} {row['concurrency']:>5} {row['wall']:>7.2f} {row['ratio']:>7.2f} "
            f"{row['median_ms']:>9.1f} {added:>8.1f} {row['p90_ms']:>7.1f} "
            f"{row['cpu_ms_per_call']:>14.2f} {row['logged']:>6} {len(row['failures']):>6}"
        )
        for failure in row["failures"][:3]:
            print(f"    failure: {failure}")
    print(
        "x ideal: wall / (items x latency / concurrency). added: median latency minus the "
        "direct path's (the agent calling the provider itself, no sandbox, no gateway): "
        "what the sandbox relay and the gateway add to a call."
    )


if __name__ == "__main__":
    main()
