"""What the shielded sandbox costs per agent run: a trivial agent through the `local`
sandbox (bubblewrap, an unprivileged uid, the allow-listed read-only host) against the
unshielded `process` sandbox (a plain subprocess), median wall time of each, one run.

    python benchmarks/sandbox_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sia_core.sandbox.api import SandboxJob
from sia_core.sandbox.local import LocalSandbox
from sia_core.sandbox.process import ProcessSandbox

AGENT = (
    "import argparse, os\n"
    "p = argparse.ArgumentParser(); p.add_argument('--dataset_dir'); "
    "p.add_argument('--working_dir'); a = p.parse_args()\n"
    "open(os.path.join(a.working_dir, 'out.txt'), 'w').write('done')\n"
)


def median_run(sandbox: object, root: Path, repeat: int) -> float:
    times = []
    for i in range(repeat):
        job = SandboxJob(
            agent_file=root / "agent.py",
            dataset_dir=root / "data",
            output_dir=root / f"out-{type(sandbox).__name__}-{i}",
            python=sys.executable,
            timeout_s=60,
            memory_mb=2048,
            max_processes=64,
        )
        start = time.perf_counter()
        result = sandbox.run(job)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
        assert result.ok, result.stderr_tail
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        (root / "data" / "inputs.csv").write_text("id,text\n1,hello\n")
        (root / "agent.py").write_text(AGENT)
        local = LocalSandbox()
        median_run(local, root, 2)  # warm the interpreter-path probe and the page cache
        shielded = median_run(local, root, args.repeat)
        plain = median_run(ProcessSandbox(), root, args.repeat)
    print(f"local (bubblewrap)  median {shielded * 1000:7.1f} ms per agent run")
    print(f"process (plain)     median {plain * 1000:7.1f} ms per agent run")
    print(
        f"ratio local/process {shielded / plain:.2f}x "
        f"(+{(shielded - plain) * 1000:.1f} ms per run for the shield)"
    )


if __name__ == "__main__":
    main()
