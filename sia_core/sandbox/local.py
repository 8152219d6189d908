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
import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sia_core.errors import SiaError
from sia_core.sandbox import inside, seccomp
from sia_core.sandbox.api import SandboxJob, SandboxResult
from sia_core.sandbox.bwrap import BWRAP_ENV, MountPlan, command, require_bwrap
from sia_core.sandbox.cgroup import SandboxCgroup
from sia_core.sandbox.stage import (
    HOME_MB,
    NO_CGROUP,
    WORK_MB,
    agent_argv,
    agent_env,
    cap_work_dir,
    finish,
    join_and_die_with_parent,
    new_stage,
    prepare_stage,
    unmount,
)

# Each sandbox started by root gets its own uid, so per-uid limits and signals never
# reach another sandbox (or anything on the host).
_UID_BASE = 200_000 + (os.getpid() % 4096) * 64
_AGENT_UIDS = itertools.cycle(range(_UID_BASE, _UID_BASE + 64))


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
        stage = new_stage("sandbox")
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
        argv = agent_argv(job.python, root, job.extra_args)
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
            program = [f"{root}/inside.py", f"{root}/spec.json"]
            seccomp_fd = files[-1].fileno() if filtered else None
            return subprocess.Popen(
                command(self.bwrap, plan, program, seccomp_fd, chdir=f"{root}/work"),
                env=BWRAP_ENV,
                stdin=subprocess.DEVNULL,
                stdout=init_log,
                stderr=subprocess.STDOUT,
                pass_fds=[fh.fileno() for fh in files],
                start_new_session=True,
                preexec_fn=lambda: join_and_die_with_parent(group),
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
