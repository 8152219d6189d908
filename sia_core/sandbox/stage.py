"""What every sandbox that stages an agent shares (local, process, remote, a box): the
stage on disk (the agent's copy of the public data, its script, the logs sia keeps out
of its reach), the agent's environment and command line, waiting under the wall clock,
handing back outputs and logs as one SandboxResult, size-capped tmpfs mounts, and
leaving with sia (the parent-death signal, the cgroup join before exec)."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sia_core.sandbox.api import OUTPUTS_REFUSED, SandboxJob, SandboxResult
from sia_core.sandbox.cgroup import SandboxCgroup
from sia_core.sandbox.copyback import CopyBackError, copy_back
from sia_core.sandbox.owner import owner_gone, owner_tag

PR_SET_PDEATHSIG = 1
TAIL_CHARS = 4000


def die_with_parent() -> None:
    # If sia is killed (even with SIGKILL) the sandbox goes with it.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def tail(path: Path) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - TAIL_CHARS))
        return fh.read().decode("utf-8", errors="replace")


def hand_back_logs(logs: Path, output_dir: Path) -> tuple[str, str]:
    """Copy the agent's stdout.log and stderr.log (kept by sia, out of its reach) into
    its outputs as target_agent_*.log; returns their tails."""
    for name in ("stdout", "stderr"):
        shutil.copyfile(logs / f"{name}.log", output_dir / f"target_agent_{name}.log")
    return tail(logs / "stdout.log"), tail(logs / "stderr.log")


def agent_env(home: str, job: SandboxJob, base_url: str | None) -> dict[str, str]:
    bin_dir = str(Path(job.python).parent)
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(job.env)
    if job.gateway is not None and base_url is not None:
        env.update(
            SIA_BASE_URL=base_url,
            SIA_MODEL=job.gateway.model,
            SIA_API_KEY=job.gateway.token,
            OPENAI_BASE_URL=base_url,
            OPENAI_API_KEY=job.gateway.token,
        )
    return env


def prepare_stage(job: SandboxJob, stage: Path, subdirs: tuple[str, ...]) -> Path:
    """Lay out a stage: the agent's copy of the public data, its script, empty `subdirs`,
    and the log files sia keeps outside the agent's reach. Returns the logs directory."""
    job.output_dir.mkdir(parents=True, exist_ok=True)
    logs = stage / "logs"
    logs.mkdir()
    for name in ("stdout.log", "stderr.log", "violation.txt", "init.log"):
        (logs / name).touch()
    shutil.copytree(job.dataset_dir, stage / "dataset", symlinks=False)
    for sub in subdirs:
        (stage / sub).mkdir()
    shutil.copyfile(job.agent_file, stage / "agent" / "target_agent.py")
    return logs


def finish(
    job: SandboxJob,
    proc: subprocess.Popen[bytes],
    work: Path,
    logs: Path,
    isolation: list[str],
    reap: Callable[[], None] | None = None,
) -> SandboxResult:
    """Wait for the agent under the wall clock, then bring its outputs home safely.
    Shared by every sandbox that runs a local process; `reap` ends whatever the agent
    left running where killing its process group is not enough."""
    started = time.monotonic()
    timed_out = False
    try:
        code: int | None = proc.wait(timeout=job.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    duration = time.monotonic() - started
    if reap is not None:
        reap()
    if code is not None and code < 0:
        code = 128 - code
    violation = tail(logs / "violation.txt") or None
    dropped: list[str] = []
    try:
        copied = copy_back(work, job.output_dir, job.reserved_names)
        dropped = copied.dropped
    except CopyBackError as exc:
        violation = f"{OUTPUTS_REFUSED}{exc}"
    return handed_back(
        job, logs, (code, timed_out, duration), isolation, violation, dropped,
        fallback_stderr=tail(logs / "init.log"),
    )  # fmt: skip


WORK_MB = 2048
"""The work dir's size cap: what copy_back takes at most (copyback.MAX_BYTES)."""
HOME_MB = 512
NO_CGROUP = "memfd, shared memory and /tmp are bounded per process only"
MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH = 2


def cap_work_dir(work: Path, uid: int | None, mode: str = "0700") -> bool:
    """Mount a size-capped tmpfs on the work dir (root only): an agent then cannot fill
    the host's disk through it. False where it cannot be mounted."""
    if os.geteuid() != 0:
        return False
    owner = "" if uid is None else f",uid={uid},gid={uid}"
    options = f"size={WORK_MB}m,mode={mode}{owner}".encode()
    libc = ctypes.CDLL(None, use_errno=True)
    done = libc.mount(b"tmpfs", str(work).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options)
    return done == 0


def unmount(path: Path) -> None:
    ctypes.CDLL(None, use_errno=True).umount2(str(path).encode(), MNT_DETACH)


def new_stage(kind: str) -> Path:
    """A fresh directory under the temp dir for one sandbox's stage (or a policy worker's
    scratch) of `kind` (owner.KINDS), named for this process, after removing what killed
    sia processes left behind."""
    sweep_stale_stages()
    return Path(tempfile.mkdtemp(prefix=f"sia-{kind}-{owner_tag()}-"))


def sweep_stale_stages() -> None:
    """A sia killed with -9 leaves its sandboxes' stages and boxes behind, their tmpfs
    still mounted where it ran as root: unmount and remove those of processes that no
    longer run (the pid is in the directory's name)."""
    for leftover in Path(tempfile.gettempdir()).glob("sia-*-*"):
        if not leftover.is_dir() or leftover.is_symlink() or not owner_gone(leftover):
            continue
        for mount in ("work", "root"):
            if os.path.ismount(leftover / mount):
                unmount(leftover / mount)
        shutil.rmtree(leftover, ignore_errors=True)


def agent_argv(python: str, root: str, extra_args: tuple[str, ...]) -> list[str]:
    """The agent's command line inside a stage laid out under `root`."""
    return [
        python,
        f"{root}/agent/target_agent.py",
        "--dataset_dir",
        f"{root}/dataset",
        "--working_dir",
        f"{root}/work",
        *extra_args,
    ]


def join_and_die_with_parent(group: SandboxCgroup | None) -> None:
    """In a sandbox's first child before exec: into the sandbox's cgroup (everything it
    starts follows), and gone with sia."""
    if group is not None:
        group.join()
    die_with_parent()


def handed_back(
    job: SandboxJob,
    logs: Path,
    outcome: tuple[int | None, bool, float],
    isolation: list[str],
    violation: str | None,
    dropped: list[str],
    fallback_stderr: str = "",
) -> SandboxResult:
    """The agent's logs copied into its outputs and the result every sandbox returns.
    `outcome`: (exit code, timed out, seconds)."""
    code, timed_out, duration = outcome
    job.output_dir.mkdir(parents=True, exist_ok=True)
    stdout_tail, stderr_tail = hand_back_logs(logs, job.output_dir)
    return SandboxResult(
        exit_code=code,
        timed_out=timed_out,
        duration_s=duration,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail or fallback_stderr,
        isolation=isolation,
        violation=violation,
        dropped=dropped,
    )
