"""The built-in `process` sandbox: a plain subprocess, chosen explicitly, unshielded.

For machines without bubblewrap or user namespaces, and only when the user asks for it
by name (`--sandbox process`). It keeps the wall clock, the address-space cap, a fresh
environment without keys and the safe copy-back; it does not keep the agent from the
host. Its isolation list says exactly what is not shielded, in every record.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sia_core.sandbox.api import SandboxJob, SandboxResult
from sia_core.sandbox.stage import agent_env, die_with_parent, finish, new_stage, prepare_stage

NOT_SHIELDED = [
    "NOT SHIELDED (--sandbox process): the agent runs as the same user as sia, on the host",
    "NOT shielded: sia's own environment, provider keys included, is readable through "
    "/proc/<pid>/environ",
    "NOT shielded: the task's private data, other generations and the run record are "
    "readable and writable",
    "NOT shielded: the network is open; the gateway is not the only service reachable",
    "wall clock: best effort (a process that leaves its session and drops sia's marker "
    "from its environment survives)",
]


def _reap(mark: bytes) -> None:
    """End every process that still carries this run's marker in its environment: a
    grandchild in a session of its own escapes the process-group kill. Best effort: a
    process that drops the marker from its environment survives (it is unshielded)."""
    for _ in range(5):
        found = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if mark in environ.split(b"\0"):
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.05)


class ProcessSandbox:
    name = "process"
    shielded = False

    def run(self, job: SandboxJob) -> SandboxResult:
        stage = new_stage("process")
        try:
            logs = prepare_stage(job, stage, ("work", "home", "agent"))
            base_url = f"http://127.0.0.1:{job.gateway.port}/v1" if job.gateway else None
            mark = f"SIA_PROCESS_SANDBOX={secrets.token_hex(8)}"
            env = {
                **agent_env(str(stage / "home"), job, base_url),
                mark.split("=")[0]: mark.split("=")[1],
            }
            memory = job.memory_mb * 1024 * 1024

            def limits() -> None:
                die_with_parent()
                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                if os.geteuid() != 0:
                    cap = (job.max_processes, job.max_processes)
                    resource.setrlimit(resource.RLIMIT_NPROC, cap)

            with (logs / "stdout.log").open("wb") as out, (logs / "stderr.log").open("wb") as err:
                proc = subprocess.Popen(
                    [
                        job.python,
                        str(stage / "agent" / "target_agent.py"),
                        "--dataset_dir",
                        str(stage / "dataset"),
                        "--working_dir",
                        str(stage / "work"),
                        *job.extra_args,
                    ],
                    cwd=stage / "work",
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    preexec_fn=limits,
                )
            isolation = [
                *NOT_SHIELDED,
                f"wall clock {job.timeout_s:.0f} s",
                f"address space {job.memory_mb} MiB",
                "processes: not capped" if os.geteuid() == 0 else f"processes {job.max_processes}",
                "environment: no provider keys passed (but see /proc above)",
            ]
            return finish(
                job, proc, stage / "work", logs, isolation, reap=lambda: _reap(mark.encode())
            )
        finally:
            shutil.rmtree(stage, ignore_errors=True)
