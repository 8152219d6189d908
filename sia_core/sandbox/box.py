"""A bubblewrap box with exec-with-stdio: what a remote sandbox (sia_core.sandbox.remote)
drives on the machine it runs on. The Modal plugin's local stand-in is one such box on
sia's machine; the Ray plugin starts one on a cluster node.

A box is one bubblewrap process with its own pid, network (loopback only, nothing
routed), ipc and uts namespaces, no capabilities, sia's seccomp filter, a read-only
system and interpreter, a private /tmp and one writable directory, /sia. Its init
(box_init.py) starts processes inside on request, with pipes the caller holds as their
standard streams: the same exec-with-stdio that Modal's Sandbox.exec gives, so the
relay, the file transfer and the sandbox logic run on it exactly as they do on Modal.
Limits are the wall clock, a cgroup where sia may make one, the address space and a
size-capped /sia.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sia_core.sandbox.bwrap import BWRAP_ENV, MountPlan, command, require_bwrap
from sia_core.sandbox.cgroup import SandboxCgroup
from sia_core.sandbox.remote import BoxSpec
from sia_core.sandbox.seccomp import program as seccomp_program
from sia_core.sandbox.seccomp import supported as seccomp_supported
from sia_core.sandbox.stage import (
    WORK_MB,
    cap_work_dir,
    join_and_die_with_parent,
    new_stage,
    unmount,
)

INIT = Path(__file__).with_name("box_init.py")
BOX_TASKS = 4096
"""The box's pids cap: a box runs many execs (relay, transfers, the agent)."""


class BoxProcess:
    def __init__(self, control: socket.socket, stdin: int, stdout: int, stderr: int) -> None:
        self._control = control
        self._stdin: int | None = stdin
        self._stdout = stdout
        self._stderr = stderr
        self._code: int | None = None

    def write(self, data: bytes) -> None:
        assert self._stdin is not None, "stdin is closed"
        view = memoryview(data)
        while view:
            view = view[os.write(self._stdin, view) :]

    def close_stdin(self) -> None:
        if self._stdin is not None:
            os.close(self._stdin)
            self._stdin = None

    def read(self, size: int) -> bytes:
        try:
            return os.read(self._stdout, size)
        except OSError:
            return b""

    def read_stderr(self, size: int) -> bytes:
        try:
            return os.read(self._stderr, size)
        except OSError:
            return b""

    def wait(self, timeout: float | None = None) -> int | None:
        if self._code is None:
            self._control.settimeout(timeout)
            try:
                answer = self._control.recv(16)
            except TimeoutError:
                return None
            except OSError:
                answer = b""
            self._code = int(answer) if answer.strip() else 137
        return self._code

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._control.shutdown(socket.SHUT_RDWR)
        self._control.close()
        self.close_stdin()
        if self._code is None:
            self._code = 137


class BwrapBox:
    def __init__(self, spec: BoxSpec, what: str = "a bubblewrap box on this machine") -> None:
        self.python = spec.local_python or sys.executable
        self.root = "/sia"
        self._dir = new_stage("box")
        (self._dir / "root").mkdir()
        (self._dir / "control").mkdir()
        # A container has a memory limit for the whole box and its own disk; here a
        # cgroup and a size-capped tmpfs play those parts where sia may make them.
        self._group, no_group = SandboxCgroup.create(spec.memory_mb, BOX_TASKS)
        self._capped = cap_work_dir(self._dir / "root", None, mode="0755")
        plan = MountPlan().system(self.python).system(sys.executable)
        plan.tmpfs["/tmp"] = ("1777", spec.memory_mb * 1024 * 1024)
        plan.rw["/sia"] = str(self._dir / "root")
        plan.ro["/control"] = str(self._dir / "control")
        shutil.copyfile(INIT, self._dir / "control" / "box_init.py")
        # The exec socket is handed to the init as a listening descriptor: it has no path
        # inside the box, so the agent can neither reach it nor delete it.
        self._socket = self._dir / "exec.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self._socket))
        listener.listen(1024)
        # Modal's gVisor filters syscalls itself; a box has bwrap load sia's filter.
        fds = [listener.fileno()]
        seccomp_fd = None
        if seccomp_supported():
            seccomp_fd, program_w = os.pipe()
            os.write(program_w, seccomp_program())
            os.close(program_w)
            fds.append(seccomp_fd)
        program = ["/control/box_init.py", str(listener.fileno()), str(spec.memory_mb)]
        self._proc = subprocess.Popen(
            command(require_bwrap(), plan, program, seccomp_fd, flags=("--cap-drop", "ALL")),
            env=BWRAP_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=lambda: join_and_die_with_parent(self._group),
            pass_fds=tuple(fds),
        )
        listener.close()
        for fd in fds[1:]:
            os.close(fd)
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != b"ready":
            error = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
            self.terminate()
            raise RuntimeError(f"the box did not start: {error.strip()[-300:]}")
        self.isolation = [
            f"{what}: bubblewrap (pid, net, ipc, uts namespaces; no capabilities; read-only "
            "system; writable /sia and /tmp only)",
            "network: none inside; the gateway through the exec-stream relay",
            "seccomp: sia's filter (kernel keyring, mounts, namespaces, ptrace, bpf, …)",
            f"memory: {spec.memory_mb} MiB of address space per process, /tmp as much",
            self._group.line if self._group else f"cgroup: none ({no_group})",
            f"disk: /sia a {WORK_MB} MiB tmpfs" if self._capped else "disk: /sia not capped",
        ]

    def exec(self, argv: list[str], env: dict[str, str] | None = None) -> BoxProcess:
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.connect(str(self._socket))
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        request = {"argv": argv, "env": env or {"PATH": "/usr/bin:/bin"}}
        socket.send_fds(control, [json.dumps(request).encode()], [stdin_r, stdout_w, stderr_w])
        for fd in (stdin_r, stdout_w, stderr_w):
            os.close(fd)
        return BoxProcess(control, stdin_w, stdout_r, stderr_r)

    def terminate(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        if self._group is not None:
            self._group.remove()
        if self._capped:
            unmount(self._dir / "root")
        shutil.rmtree(self._dir, ignore_errors=True)
