"""`--parallel N`: the wall time of one evaluation spread over N sandboxes.

The harness is the common simple kind: it calls the task model once per row, one call
at a time. The task model is the fake provider (its own process) answering after a
fixed latency, reached through the gateway's passthrough path. One evaluation of R rows
then takes about R x latency in one sandbox, and R x latency / N when the rows are cut
into N shards, plus what a sandbox costs to start and what cutting and merging cost.
For each N it prints the wall time (sandboxes, gateway and evaluator included), the
speed-up over N = 1 measured in the same run, and the ratio to that ideal. The score
must be the same for every N; the script stops if it is not.

    python benchmarks/parallel_shards.py [--rows 120] [--latency 0.1]
        [--parallel 1 2 4 8] [--sandbox local] [--sandbox-opt transport=standin]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from sia_core.loop.generation_loop import make_executor  # noqa: E402
from sia_core.loop.run_config import RunConfig  # noqa: E402
from sia_core.tasks.task import load_task_dir  # noqa: E402
from sia_core.testing.fakes import serve_in_subprocess  # noqa: E402
from sia_core.testing.yes_task import EVALUATE  # noqa: E402  (exact-match accuracy)

AGENT = """
import argparse, csv, os
from openai import OpenAI
p = argparse.ArgumentParser(); p.add_argument("--dataset_dir"); p.add_argument("--working_dir")
a = p.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])
rows = list(csv.DictReader(open(os.path.join(a.dataset_dir, "test.csv"))))
out = [["id", "answer"]]
for row in rows:  # one call at a time, as a simple harness does
    client.chat.completions.create(
        model=os.environ["SIA_MODEL"], messages=[{"role": "user", "content": row["q"]}],
        extra_headers={"X-SIA-Item": row["id"]})
    out.append([row["id"], "yes" if int(row["id"]) % 3 else "no"])
csv.writer(open(os.path.join(a.working_dir, "predictions.csv"), "w", newline="")).writerows(out)
"""


def write_task(root: Path, rows: int) -> Path:
    public, private = root / "data" / "public", root / "data" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (public / "task.md").write_text("Answer yes or no to each row of test.csv.\n")
    (public / "evaluate.py").write_text(EVALUATE)
    (public / "test.csv").write_text("id,q\n" + "".join(f"{i},q{i}\n" for i in range(rows)))
    (private / "answers.csv").write_text(
        "id,answer\n" + "".join(f"{i},{'yes' if i % 2 else 'no'}\n" for i in range(rows))
    )
    (root / "task.toml").write_text(
        '[limits]\nagent_timeout_s = 600\n[parallel]\ninputs = "test.csv"\n'
        'outputs = ["predictions.csv"]\n'
    )
    (root / "agent.py").write_text(AGENT)
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--sandbox", default="local")
    parser.add_argument("--sandbox-opt", action="append", default=[])
    args = parser.parse_args()
    provider, url = serve_in_subprocess(args.latency)
    os.environ["OPENAI_API_KEY"] = "sk-fake"
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            task_root = write_task(tmp / "task", args.rows)
            for n in args.parallel:
                config = RunConfig(
                    task_dir=str(task_root),
                    task_model="openai/fake",
                    task_model_base=url,
                    sandbox=args.sandbox,
                    sandbox_options=dict(o.split("=", 1) for o in args.sandbox_opt),
                    parallel=n,
                )
                run_path = tmp / f"run_{n}"
                executor = make_executor(config, run_path)
                task = load_task_dir(task_root)
                out = run_path / "eval"
                start = time.perf_counter()
                outcome = executor.run_split(
                    1, "test", task, task_root / "agent.py", out, sys.executable, None
                )
                wall = time.perf_counter() - start
                if outcome.error:
                    raise SystemExit(f"--parallel {n}: {outcome.error}")
                calls = len((out / "calls.jsonl").read_text().splitlines())
                isolation = outcome.sandbox.isolation[0]
                results.append((n, wall, outcome.evaluation.score, calls))
    finally:
        provider.terminate()
    scores = {score for _, _, score, _ in results}
    if len(scores) != 1:
        raise SystemExit(f"scores differ between shard counts: {results}")
    print(f"sandbox: {args.sandbox} ({isolation}); {os.cpu_count()} cores")
    print(
        f"{args.rows} rows, one model call per row at a time, fake model latency "
        f"{args.latency * 1000:.0f} ms; score {scores.pop():.4f} for every N"
    )
    print(f"{'N':>3} {'wall s':>7} {'speed-up':>8} {'x ideal':>7} {'calls':>6}")
    base = results[0][1]
    for n, wall, _, calls in results:
        ideal = args.rows * args.latency / n
        print(f"{n:>3} {wall:>7.2f} {base / wall:>8.2f} {wall / ideal:>7.2f} {calls:>6}")
    print(
        "speed-up: wall of the first N listed / this wall. x ideal: wall / (rows x latency "
        "/ N): what sandbox start-up, cutting, merging and the evaluator add."
    )


if __name__ == "__main__":
    main()
