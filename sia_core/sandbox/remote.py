"""A sandbox on another machine, reached only through processes it runs (Modal's
Sandbox.exec; equally docker exec, ssh or kubectl exec).

Everything crosses as bytes on the stdin/stdout of processes started in the box: the
public data goes in as a tar stream, the agent's work directory comes back as one and
is unpacked by sia with links, devices and odd names skipped, then copied back under
the local sandbox's rules (copy_back: reserved names dropped, caps). The gateway is
reached through the stream relay (sia_core.sandbox.stream_relay): the box needs no
network, and no key ever enters it, only the gateway token.

A transport plugin provides `Transport.create(BoxSpec) -> Box`; this module does the rest.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sia_core.errors import SiaError
from sia_core.sandbox.api import OUTPUTS_REFUSED, SandboxJob, SandboxResult
from sia_core.sandbox.bwrap import SandboxUnavailable
from sia_core.sandbox.copyback import MAX_BYTES, MAX_FILES, CopyBackError, copy_back
from sia_core.sandbox.stage import TAIL_CHARS, agent_argv, agent_env, handed_back, new_stage
from sia_core.sandbox.stream_relay import INSIDE_SCRIPT, StreamRelay, gateway_connector

RELAY_PORT = 8642
"""Where the agent finds the gateway inside the box (127.0.0.1)."""
READY_TIMEOUT_S = 120
MAX_ENTRIES = 10 * MAX_FILES
"""Entries of any kind the work directory's tar may hold (directories, links, ...)."""
# Run by the box's python: unpack sia's tar from stdin, pack the work directory to stdout.
UNPACK = (
    "import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode='r|')"
    ".extractall(sys.argv[1], filter='data')"
)
# Run by the box's python before the agent starts: every process that appears after it
# is the agent's. Past the cap they are all killed (again and again: a fork bomb races)
# and the violation is printed; at the agent's end sia closes its stdin.
CAP_WATCH = """
import os, signal, sys, threading, time
cap = int(sys.argv[1])
before = {p for p in os.listdir('/proc') if p.isdigit()}
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.wait(0.02):
    extra = [int(p) for p in os.listdir('/proc') if p.isdigit() and p not in before]
    if len(extra) > cap:
        for _ in range(50):
            extra = [int(p) for p in os.listdir('/proc') if p.isdigit() and p not in before]
            if not extra:
                break
            for pid in extra:
                try: os.kill(pid, signal.SIGKILL)
                except OSError: pass
            time.sleep(0.01)
        print(f'process cap exceeded: {len(extra)} processes, limit {cap}', flush=True)
        break
"""
PACK = (
    "import os, sys, tarfile\n"
    "with tarfile.open(fileobj=sys.stdout.buffer, mode='w|') as tar:\n"
    "    tar.add(sys.argv[1], arcname='.')\n"
)


class Process(Protocol):
    """A process started in a box, with its standard streams."""

    def write(self, data: bytes) -> None: ...
    def close_stdin(self) -> None: ...
    def read(self, size: int) -> bytes:
        """Up to `size` bytes of stdout; b"" at its end."""
        ...

    def read_stderr(self, size: int) -> bytes: ...
    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if it is still running after `timeout` seconds."""
        ...

    def kill(self) -> None: ...


class Box(Protocol):
    python: str
    """The interpreter inside the box."""
    root: str
    """A writable directory inside, where sia lays out the job."""
    isolation: list[str]
    """What the box enforces, in words, for the records."""

    def exec(self, argv: list[str], env: dict[str, str] | None = None) -> Process: ...
    def terminate(self) -> None: ...


@dataclass(frozen=True)
class BoxSpec:
    timeout_s: float
    memory_mb: int
    cpu: float | None = None
    gpu: str | None = None
    local_python: str = ""
    """The interpreter sia would use locally (a stand-in box runs it)."""
    requirements: tuple[str, ...] = ()


class Transport(Protocol):
    name: str

    def create(self, spec: BoxSpec) -> Box: ...


@dataclass
class RemoteSandbox:
    transport: Transport
    cpu: float | None = None
    gpu: str | None = None
    name: str = "remote"
    shielded: bool = True
    requirements: tuple[str, ...] = field(default_factory=tuple)

    def run(self, job: SandboxJob) -> SandboxResult:
        spec = BoxSpec(
            timeout_s=job.timeout_s + 120,  # the box outlives the agent to hand back outputs
            memory_mb=job.memory_mb,
            cpu=self.cpu,
            gpu=self.gpu or job.gpu,  # --sandbox-opt gpu= overrides task.toml
            local_python=job.python,
            requirements=self.requirements,
        )
        try:
            box = self.transport.create(spec)
        except SiaError:
            raise
        except Exception as exc:  # the service's own errors (no token, no quota, ...)
            raise SandboxUnavailable(
                f"sandbox {self.name!r} could not start a box: {type(exc).__name__}: {exc}"[:400]
            ) from None
        stage = new_stage("remote")
        relay: StreamRelay | None = None
        try:
            _send_tree(box, _job_tar(job), box.root)
            base_url = None
            if job.gateway is not None:
                relay = _start_relay(box, job.gateway.port)
                base_url = f"http://127.0.0.1:{RELAY_PORT}/v1"
            return self._run_agent(box, job, stage, base_url)
        except RuntimeError as exc:  # the box would not take the job or the relay
            raise SandboxUnavailable(f"sandbox {self.name!r}: {exc}"[:400]) from None
        finally:
            if relay is not None:
                relay.close()
            box.terminate()
            shutil.rmtree(stage, ignore_errors=True)

    def _run_agent(
        self, box: Box, job: SandboxJob, stage: Path, base_url: str | None
    ) -> SandboxResult:
        root = box.root
        argv = agent_argv(box.python, root, job.extra_args)
        env = agent_env(f"{root}/home", job, base_url)
        if Path(box.python).is_absolute():  # else the box's own PATH finds it
            env["PATH"] = f"{Path(box.python).parent}:/usr/local/bin:/usr/bin:/bin"
        else:
            env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        watch = box.exec([box.python, "-I", "-c", CAP_WATCH, str(job.max_processes)])
        started = time.monotonic()
        proc = box.exec(["/bin/sh", "-c", f'cd "{root}/work" && exec "$@"', "sh", *argv], env)
        proc.close_stdin()
        drains = [
            _drain(proc.read, stage / "stdout.log"),
            _drain(proc.read_stderr, stage / "stderr.log"),
        ]
        code = proc.wait(job.timeout_s)
        timed_out = code is None
        if timed_out:
            # Everything in the box ends at the wall clock, also what the agent detached.
            proc.kill()
            box.terminate()
        for drain in drains:
            drain.join(10)
        duration = time.monotonic() - started
        violation = None
        dropped: list[str] = []
        if not timed_out:
            violation = _watch_verdict(watch, job.max_processes)
            try:
                dropped = self._bring_back(box, job, stage)
            except CopyBackError as exc:
                violation = f"{OUTPUTS_REFUSED}{exc}"
            except Exception as exc:  # the agent broke the box (killed its init, ...)
                violation = (
                    f"{OUTPUTS_REFUSED}the box did not hand back the work directory: "
                    f"{type(exc).__name__}: {exc}"[:400]
                )
        isolation = [*box.isolation, "outputs: copied back, no links, reserved names dropped"]
        return handed_back(job, stage, (code, timed_out, duration), isolation, violation, dropped)

    def _bring_back(self, box: Box, job: SandboxJob, stage: Path) -> list[str]:
        packed = stage / "work.tar"
        proc = box.exec([box.python, "-I", "-c", PACK, f"{box.root}/work"])
        proc.close_stdin()
        size = 0
        with packed.open("wb") as out:
            while data := proc.read(1 << 20):
                size += len(data)
                if size > MAX_BYTES:
                    proc.kill()
                    raise CopyBackError(f"the work directory is over {MAX_BYTES} bytes")
                out.write(data)
        if proc.wait(300) != 0:
            message = proc.read_stderr(TAIL_CHARS).decode(errors="replace").strip()
            raise CopyBackError(f"packing the work directory failed: {message[-300:]}")
        work = stage / "work"
        work.mkdir()
        _unpack_plain(packed, work)
        return copy_back(work, job.output_dir, job.reserved_names).dropped


def _watch_verdict(watch: Process, cap: int) -> str | None:
    """What the process-cap watcher saw; a watcher that is gone before sia told it to stop
    and said nothing was stopped by the agent, and the cap no longer held."""
    gone = watch.wait(0.05) is not None
    watch.close_stdin()
    said = watch.read(TAIL_CHARS).decode(errors="replace").strip()
    if said:
        return said
    if gone:
        return f"process cap not enforced: the agent stopped the watcher (limit {cap})"
    return None


def _job_tar(job: SandboxJob) -> bytes:
    """The job's public part, as the box gets it: the data, the agent, the relay."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(job.dataset_dir, arcname="dataset", filter=_plain_only)
        tar.add(job.agent_file, arcname="agent/target_agent.py")
        tar.add(INSIDE_SCRIPT, arcname="relay_inside.py")
        for name in ("work", "home"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o777
            tar.addfile(info)
    return buffer.getvalue()


def _plain_only(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return info if info.isfile() or info.isdir() else None


def _send_tree(box: Box, data: bytes, dest: str) -> None:
    proc = box.exec([box.python, "-I", "-c", UNPACK, dest])
    for start in range(0, len(data), 1 << 20):
        proc.write(data[start : start + (1 << 20)])
    proc.close_stdin()
    with contextlib.suppress(Exception):
        while proc.read(1 << 16):
            pass
    if proc.wait(300) != 0:
        message = proc.read_stderr(TAIL_CHARS).decode(errors="replace").strip()
        raise RuntimeError(f"uploading the job into the box failed: {message[-300:]}")


def _unpack_plain(packed: Path, dest: Path) -> None:
    """Only regular files and directories, with safe names; nothing else is created."""
    with tarfile.open(packed, mode="r:") as tar:
        members, files = [], 0
        # Counted while reading: a tar of millions of empty files or directories must not
        # be listed whole in sia's memory. Files are held to copy_back's own cap.
        for count, member in enumerate(tar, start=1):
            files += member.isfile()
            if files > MAX_FILES:
                raise CopyBackError(f"the agent left more than {MAX_FILES} files")
            if count > MAX_ENTRIES:
                raise CopyBackError(f"the agent left more than {MAX_ENTRIES} entries")
            if member.isfile() or member.isdir():
                members.append(member)
        try:
            tar.extractall(dest, members=members, filter="data")
        except tarfile.FilterError as exc:
            raise CopyBackError(f"the work directory holds an unsafe name: {exc}") from None


def _start_relay(box: Box, gateway_port: int) -> StreamRelay:
    proc = box.exec([box.python, "-I", f"{box.root}/relay_inside.py", str(RELAY_PORT)])
    relay = StreamRelay(proc.read, proc.write, gateway_connector(gateway_port)).start()
    if not relay.ready.wait(READY_TIMEOUT_S):
        message = proc.read_stderr(TAIL_CHARS).decode(errors="replace").strip()
        raise RuntimeError(f"the gateway relay did not start in the box: {message[-300:]}")
    return relay


def _drain(read: Callable[[int], bytes], path: Path) -> threading.Thread:
    out = path.open("wb")  # exists from here on, whatever the stream does

    def pump() -> None:
        with out, contextlib.suppress(Exception):
            while data := read(1 << 16):
                out.write(data)
                out.flush()

    thread = threading.Thread(target=pump, daemon=True, name="sia-remote-log")
    thread.start()
    return thread
