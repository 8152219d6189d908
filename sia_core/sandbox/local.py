"""The built-in `local` sandbox: the agent in bubblewrap, on this machine.

What holds (each item is checked by sia_core.testing.sandbox_checks):
  - the root is an empty tmpfs holding, read-only, /usr, /etc, the /bin and /lib links and
    the interpreter's prefixes and site-packages; /root, /home, the sia cache, task
    directories and run directories do not exist inside (docs/configuration.md);
  - the agent writes only its work directory, its home and a size-capped /tmp;
  - pid, network, ipc and uts namespaces: no process of the host is visible, so no
    environment to read through /proc; the network is loopback only, 127.0.0.1:PORT is
    relayed to the gateway's Unix socket;
  - started by root, the agent runs as an unprivileged uid of its own (a fresh one per
    sandbox), with no capabilities and no_new_privs; started by anyone else it runs as
    that user in a user namespace;
  - a wall clock that ends the whole namespace, an address-space cap, a process cap;
  - a fresh environment with no provider keys;
  - outputs come back through copy_back: no link followed, reserved names dropped.
bwrap is required: without it the sandbox refuses (SandboxUnavailable) and the user
may choose `--sandbox process` explicitly.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sia_core.errors import SiaError
from sia_core.sandbox import inside, seccomp
from sia_core.sandbox.api import OUTPUTS_REFUSED, SandboxJob, SandboxResult
from sia_core.sandbox.bwrap import MountPlan, namespace_flags, require_bwrap
from sia_core.sandbox.cgroup import SandboxCgroup
from sia_core.sandbox.copyback import CopyBackError, copy_back

PR_SET_PDEATHSIG = 1
TAIL_CHARS = 4000
# Each sandbox started by root gets its own uid, so per-uid limits and signals never
# reach another sandbox (or anything on the host).
_UID_BASE = 200_000 + (os.getpid() % 4096) * 64
_AGENT_UIDS = itertools.cycle(range(_UID_BASE, _UID_BASE + 64))


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
    stdout_tail, stderr_tail = hand_back_logs(logs, job.output_dir)
    return SandboxResult(
        exit_code=code,
        timed_out=timed_out,
        duration_s=duration,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail or tail(logs / "init.log"),
        isolation=isolation,
        violation=violation,
        dropped=dropped,
    )


class LocalSandbox:
    name = "local"
    shielded = True

    def __init__(self, bwrap: str | None = None) -> None:
        self.bwrap = require_bwrap(bwrap)

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> LocalSandbox:
        unknown = set(options) - {"bwrap"}
        if unknown:
            raise SiaError(
                f"sandbox 'local' has no option {sorted(unknown)[0]!r}; it takes bwrap=PATH"
            )
        return cls(options.get("bwrap"))

    def run(self, job: SandboxJob) -> SandboxResult:
        sweep_stale_stages()
        stage = Path(tempfile.mkdtemp(prefix=f"sia-sandbox-{os.getpid()}-"))
        stop_unix = None
        uid = next(_AGENT_UIDS) if os.geteuid() == 0 else None
        group, no_group = SandboxCgroup.create(job.memory_mb, job.max_processes)
        work_cap = None
        try:
            # The logs directory is never mounted inside.
            logs = prepare_stage(job, stage, ("work", "agent", "gateway"))
            work_cap = cap_work_dir(stage / "work", uid)
            if job.gateway is not None:
                stop_unix = job.gateway.listen_unix(stage / "gateway" / "gateway.sock")
                os.chmod(stage / "gateway" / "gateway.sock", 0o666)
            _open_up(stage, uid)
            proc = self._start(job, stage, logs, uid, group)
            isolation = self._isolation(job, uid)
            isolation.append(group.line if group else f"cgroup: none ({no_group}); {NO_CGROUP}")
            isolation.append(
                f"disk: work dir a {WORK_MB} MiB tmpfs, home a {HOME_MB} MiB tmpfs"
                if work_cap
                else f"disk: home a {HOME_MB} MiB tmpfs; work dir NOT size-capped "
                "(mounting a tmpfs for it needs root)"
            )
            result = finish(job, proc, stage / "work", logs, isolation)
            over = group.violation() if group else None
            if over and not result.violation:
                result = dataclasses.replace(result, violation=over)
            return result
        finally:
            if stop_unix is not None:
                stop_unix()
            if group is not None:
                group.remove()
            if work_cap:
                unmount(stage / "work")
            shutil.rmtree(stage, ignore_errors=True)

    def _start(
        self,
        job: SandboxJob,
        stage: Path,
        logs: Path,
        uid: int | None,
        group: SandboxCgroup | None = None,
    ) -> subprocess.Popen[bytes]:
        root = inside.INSIDE_ROOT
        port = job.gateway.port if job.gateway else 0
        base_url = f"http://127.0.0.1:{port}/v1" if port else None
        argv = [
            job.python,
            f"{root}/agent/target_agent.py",
            "--dataset_dir",
            f"{root}/dataset",
            "--working_dir",
            f"{root}/work",
            *job.extra_args,
        ]
        plan = MountPlan().system(job.python).system(sys.executable)
        plan.tmpfs["/tmp"] = ("1777", job.memory_mb * 1024 * 1024)
        plan.ro[f"{root}/dataset"] = str(stage / "dataset")
        plan.ro[f"{root}/agent"] = str(stage / "agent")
        plan.ro[f"{root}/gateway"] = str(stage / "gateway")
        plan.ro[f"{root}/spec.json"] = str(stage / "spec.json")
        plan.ro[f"{root}/inside.py"] = inside.__file__
        plan.rw[f"{root}/work"] = str(stage / "work")
        # Home is the agent's scratch space: a tmpfs (its pages count in the cgroup).
        plan.tmpfs[f"{root}/home"] = ("1777", HOME_MB * 1024 * 1024)
        plan.hide.update(str(p) for p in job.hidden_paths)
        filtered = seccomp.supported()
        if filtered:
            (logs / "seccomp.bpf").write_bytes(seccomp.program())
        with contextlib.ExitStack() as stack:
            # Passed at the numbers they were opened with, named in the spec: fixed
            # numbers would have to be open in this (threaded) process at fork time,
            # which nothing guarantees (Popen then fails with EBADF).
            files = [
                stack.enter_context(open(logs / name, "wb"))
                for name in ("stdout.log", "stderr.log", "violation.txt")
            ]
            spec = {
                "port": port,
                "argv": argv,
                "env": agent_env(f"{root}/home", job, base_url),
                "memory_mb": job.memory_mb,
                "max_processes": job.max_processes,
                "uid": uid,
                "fds": {
                    name: fh.fileno()
                    for name, fh in zip(("stdout", "stderr", "violation"), files, strict=True)
                },
            }
            (stage / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
            os.chmod(stage / "spec.json", 0o644)
            if filtered:
                files.append(stack.enter_context(open(logs / "seccomp.bpf", "rb")))
            init_log = stack.enter_context((logs / "init.log").open("wb"))
            return subprocess.Popen(
                [
                    self.bwrap,
                    *namespace_flags(),
                    *(["--seccomp", str(files[-1].fileno())] if filtered else []),
                    *plan.args(),
                    "--chdir",
                    f"{root}/work",
                    "--clearenv",
                    "--setenv",
                    "PATH",
                    "/usr/bin:/bin",
                    sys.executable,
                    "-I",
                    f"{root}/inside.py",
                    f"{root}/spec.json",
                ],
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                stdin=subprocess.DEVNULL,
                stdout=init_log,
                stderr=subprocess.STDOUT,
                pass_fds=[fh.fileno() for fh in files],
                start_new_session=True,
                preexec_fn=lambda: _enter(group),
            )

    def _isolation(self, job: SandboxJob, uid: int | None) -> list[str]:
        who = (
            f"uid {uid} (unprivileged)"
            if uid is not None
            else f"uid {os.getuid()} in a user namespace"
        )
        return [
            "bubblewrap: pid+mount+net+ipc+uts namespaces",
            f"runs as {who}, no capabilities, no_new_privs",
            "filesystem: read-only /usr, /etc and the interpreter; writable work dir, home "
            "and /tmp only; no /root, /home, sia cache, task or run directories",
            "network: loopback only, gateway relayed",
            f"wall clock {job.timeout_s:.0f} s",
            f"address space {job.memory_mb} MiB",
            f"processes {job.max_processes} (namespace ended past the cap)",
            "environment: no provider keys; no host process visible",
            (
                f"seccomp: {len(seccomp.denied_names())} syscalls denied (kernel keyring, "
                "mounts and namespaces, modules, ptrace, bpf, perf, io_uring, …) and "
                "foreign ABIs"
                if seccomp.supported()
                else f"seccomp: none on {seccomp.machine()} (no syscall table for it)"
            ),
        ]


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


def sweep_stale_stages() -> None:
    """A sia killed with -9 leaves its sandboxes' work tmpfs mounted: unmount and remove
    the stages of processes that no longer run (the pid is in the stage's name)."""
    if os.geteuid() != 0:
        return
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    base = tempfile.gettempdir()
    for line in mounts:
        fields = line.split()
        if len(fields) < 3 or fields[2] != "tmpfs":
            continue
        point = Path(fields[1])
        name = point.parent.name
        if point.name != "work" or str(point.parent.parent) != base:
            continue
        if not name.startswith("sia-sandbox-"):
            continue
        pid = name.removeprefix("sia-sandbox-").split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            unmount(point)
            shutil.rmtree(point.parent, ignore_errors=True)


def _enter(group: SandboxCgroup | None) -> None:
    """In bwrap's child before exec: into the sandbox's cgroup (everything it starts
    follows), and gone with sia."""
    if group is not None:
        group.join()
    die_with_parent()


def _open_up(stage: Path, uid: int | None) -> None:
    """Let the agent's uid walk to its binds (bwrap resolves them as root, the agent
    then reaches them through the mounts) and own what it may write."""
    os.chmod(stage, 0o711)
    for path in (stage / "dataset", stage / "agent", stage / "gateway"):
        for dirpath, _dirnames, filenames in os.walk(path):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                target = os.path.join(dirpath, name)
                if not os.path.islink(target) and name != "gateway.sock":
                    os.chmod(target, 0o644)
    if uid is not None:
        os.chown(stage / "work", uid, uid)
