"""The command that runs a task's evaluator in its own bubblewrap sandbox.

The evaluator is the task author's code: trusted with the private answers, never with
the network, sia's keys or the run record. Inside it sees the system directories and
sia's interpreter (read-only), the task directory and the generation's outputs
(read-only), a private /tmp, and one writable file: the generation's results.json.
It keeps the uid it was started with but has no capabilities, so read-only stays
read-only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sia_core.sandbox.bwrap import MountPlan, namespace_flags, require_bwrap


def evaluator_argv(
    task_root: Path, evaluator: Path, gen_dir: Path, memory_mb: int, bwrap: str | None = None
) -> list[str]:
    """argv for `python evaluate.py --gen-dir GEN_DIR` in a sandbox; gen_dir/results.json
    must exist (empty) beforehand: it is the one writable mount."""
    plan = MountPlan().system(sys.executable)
    plan.tmpfs["/tmp"] = ("1777", memory_mb * 1024 * 1024)
    plan.ro[str(task_root)] = str(task_root)
    plan.ro[str(gen_dir)] = str(gen_dir)
    plan.rw[str(gen_dir / "results.json")] = str(gen_dir / "results.json")
    return [
        require_bwrap(bwrap),
        *namespace_flags(),
        "--cap-drop",
        "ALL",
        *plan.args(),
        "--chdir",
        str(evaluator.parent),
        sys.executable,
        str(evaluator),
        "--gen-dir",
        str(gen_dir),
    ]
