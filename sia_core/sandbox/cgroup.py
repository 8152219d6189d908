"""A memory and pids cgroup for one local sandbox, where this process may make one.

RLIMIT_AS bounds each process's address space, not what the sandbox holds in all: memfd
contents, SysV shared memory and tmpfs files are outside it. A memory cgroup counts all
of them (every page the sandbox's processes fault in is charged to it), and a pids
cgroup counts every task, threads included.

cgroup v2 (a unified hierarchy): a child of this process's cgroup with memory.max and
pids.max. cgroup v1: a child in the memory and pids hierarchies with
memory.limit_in_bytes (and memory.memsw.limit_in_bytes where swap is accounted) and
pids.max. Creating one needs write access to the parent (root, or a delegated
subtree); where that fails the sandbox runs without it and its isolation list says why.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from sia_core.sandbox.owner import owner_gone, owner_tag

ROOT = Path("/sys/fs/cgroup")
HEADROOM_MB = 128
"""Added to the agent's memory cap: the sandbox's init and bubblewrap live there too."""
EXTRA_PIDS = 8


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) → this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _sweep(parent: Path) -> None:
    """Remove the empty cgroups that killed sia processes left under `parent` (a cgroup
    with a process still in it cannot be removed, and is not)."""
    with contextlib.suppress(OSError):
        for child in parent.glob("sia-sandbox-*"):
            if owner_gone(child):
                with contextlib.suppress(OSError):
                    child.rmdir()


@dataclass
class SandboxCgroup:
    version: int
    dirs: list[Path] = field(default_factory=list)
    """One directory (v2), or one per controller (v1: memory, pids)."""
    memory_mb: int = 0
    pids: int = 0

    @classmethod
    def create(cls, memory_mb: int, max_processes: int) -> tuple[SandboxCgroup | None, str]:
        """The cgroup, or None and why there is none."""
        name = f"sia-sandbox-{owner_tag()}-{secrets.token_hex(4)}"
        limit = (memory_mb + HEADROOM_MB) * 2**20
        pids = max_processes + EXTRA_PIDS
        own = _own_paths()
        made: list[Path] = []
        try:
            if (ROOT / "cgroup.controllers").is_file():
                group = cls(2, memory_mb=memory_mb, pids=pids)
                parent = ROOT / own.get("", "/").lstrip("/")
                _sweep(parent)
                child = parent / name
                child.mkdir()
                made.append(child)
                if not (child / "memory.max").exists() or not (child / "pids.max").exists():
                    raise OSError(
                        f"memory and pids are not enabled for children of {parent} "
                        "(cgroup.subtree_control)"
                    )
                _write(child / "memory.max", str(limit))
                with contextlib.suppress(OSError):
                    _write(child / "memory.swap.max", "0")
                _write(child / "pids.max", str(pids))
                group.dirs = made
                return group, ""
            group = cls(1, memory_mb=memory_mb, pids=pids)
            for controller in ("memory", "pids"):
                if controller not in own or not (ROOT / controller).is_dir():
                    raise OSError(f"no cgroup v1 {controller} controller mounted")
                parent = ROOT / controller / own[controller].lstrip("/")
                _sweep(parent)
                child = parent / name
                child.mkdir()
                made.append(child)
            memory, pid_dir = made
            _write(memory / "memory.limit_in_bytes", str(limit))
            with contextlib.suppress(OSError):
                _write(memory / "memory.memsw.limit_in_bytes", str(limit))
            _write(pid_dir / "pids.max", str(pids))
            group.dirs = made
            return group, ""
        except OSError as exc:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    path.rmdir()
            return None, str(exc)

    def join(self) -> None:
        """Move the calling process in (runs in the sandbox's child before exec)."""
        for path in self.dirs:
            _write(path / "cgroup.procs", str(os.getpid()))

    def _counter(self, file: str, key: str) -> int:
        for path in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                for line in (path / file).read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        return 0

    def oom_kills(self) -> int:
        if self.version == 2:
            return self._counter("memory.events", "oom_kill")
        return self._counter("memory.oom_control", "oom_kill")

    def pids_refused(self) -> int:
        return self._counter("pids.events", "max")

    def violation(self) -> str | None:
        if self.oom_kills():
            return (
                f"memory cap exceeded: the sandbox's memory cgroup ({self.memory_mb} MiB for "
                "its processes, /tmp, memfd and shared memory together) killed a process"
            )
        return None

    @property
    def line(self) -> str:
        return (
            f"cgroup v{self.version}: memory {self.memory_mb}+{HEADROOM_MB} MiB in all "
            f"(processes, /tmp, memfd, shared memory), {self.pids} tasks"
        )

    def remove(self) -> None:
        """Kill what is left in it and remove it (a cgroup goes once it is empty)."""
        for _ in range(50):
            left = []
            for path in self.dirs:
                with contextlib.suppress(OSError, ValueError):
                    left += [int(p) for p in (path / "cgroup.procs").read_text().split()]
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for path in list(self.dirs):
                with contextlib.suppress(OSError):
                    path.rmdir()
                    self.dirs.remove(path)
            if not self.dirs:
                return
            time.sleep(0.02)
