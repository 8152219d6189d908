"""Wall time of `sia --help` and `sia plugins`, against a bare `python -c pass`, and a
check that neither imports torch, transformers, litellm or anthropic.

    python benchmarks/cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIA = str(Path(sys.executable).parent / "sia")
HEAVY = ("torch", "transformers", "litellm", "anthropic", "openai", "peft", "trl")
PROBE = (
    "import sys\n"
    "from sia_core.cli.main import cli\n"
    "try: cli.main({argv!r}, prog_name='sia')\n"
    "except SystemExit: pass\n"
    "print('HEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
)


def median_wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = median_wall([sys.executable, "-c", "pass"], args.repeat)
    torch = median_wall([sys.executable, "-c", "import torch"], 3)
    print(f"python -c pass: {base * 1000:.0f} ms; python -c 'import torch': {torch * 1000:.0f} ms")
    for argv in (["--help"], ["plugins"]):
        wall = median_wall([SIA, *argv], args.repeat)
        probe = subprocess.run(
            [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
            capture_output=True,
            text=True,
            check=True,
        )
        heavy = probe.stderr.strip().rsplit("HEAVY:", 1)[-1] or "none"
        print(
            f"sia {' '.join(argv)}: {wall * 1000:.0f} ms = {wall / base:.1f}x bare python, "
            f"{wall / torch:.2f}x an import of torch; heavy modules imported: {heavy}"
        )


if __name__ == "__main__":
    main()
