"""Building bubblewrap command lines: an allow-listed, read-only view of the host.

The sandbox's root is an empty tmpfs. Into it go, read-only, the system directories a
Python program needs (/usr, /etc and the /bin, /lib links) and the interpreter's own
prefixes and site-packages; then the caller's binds (the stage, a task, a generation).
Nothing else of the host exists inside: not /root, not /home, not the sia cache, not a
run directory, not another task. Paths to hide that fall under something bound (a task
directory inside a bound tree) are covered with an empty read-only tmpfs.

Mounts are emitted shallowest first, so a deeper bind lands on top of what covers its
parent; parents bwrap has to create are made 0755 so that an unprivileged agent can walk
through them (bwrap would otherwise copy /root's 0700).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sia_core.errors import SiaError

SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
NAMESPACES = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install -y bubblewrap) and allow user "
    "namespaces, or run with --sandbox process to run the agent unshielded"
)


class SandboxUnavailable(SiaError):
    """The machine cannot give the shielded sandbox (no bwrap, or no namespaces)."""


def bwrap_binary(explicit: str | None = None) -> str | None:
    explicit = explicit or os.environ.get("SIA_BWRAP")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("bwrap")


@cache
def _probe(binary: str) -> str | None:
    """None when bwrap can build a sandbox here, else why not.

    The probe mounts what every sandbox mounts (an empty root, the system directories
    read-only, /proc, /dev), never the host's `/`: a recursive bind of `/` would take in
    other sandboxes' work tmpfs, and one unmounted mid-probe made bwrap fail as if it
    could not run here at all."""
    plan = MountPlan(ro={p: p for p in SYSTEM_DIRS if os.path.islink(p) or os.path.isdir(p)})
    argv = [binary, *namespace_flags(), *plan.args(), "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        return str(exc)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return None


def require_bwrap(explicit: str | None = None) -> str:
    """The bwrap binary, or SandboxUnavailable with one line saying what to do."""
    if sys.platform != "linux":
        raise SandboxUnavailable(f"the local sandbox needs Linux; {INSTALL_HINT}")
    binary = bwrap_binary(explicit)
    if binary is None:
        raise SandboxUnavailable(f"the local sandbox needs bubblewrap (bwrap); {INSTALL_HINT}")
    problem = _probe(binary)
    if problem:
        raise SandboxUnavailable(
            f"bubblewrap cannot create a sandbox here ({problem}); {INSTALL_HINT}"
        )
    return binary


def bwrap_usable() -> bool:
    try:
        require_bwrap()
    except SandboxUnavailable:
        return False
    return True


def namespace_flags() -> list[str]:
    # As real root, bwrap needs no user namespace, and one would map the agent back to
    # root: the init inside drops to an unprivileged uid instead. Anyone else gets one.
    user = [] if os.geteuid() == 0 else ["--unshare-user"]
    return [*user, *NAMESPACES, "--unshare-cgroup-try", "--die-with-parent", "--new-session"]


BWRAP_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
"""bwrap's own environment: it is pid 1 inside, and its /proc/1/environ must hold none
of sia's keys."""


def command(
    bwrap: str,
    plan: MountPlan,
    program: list[str],
    seccomp_fd: int | None,
    flags: tuple[str, ...] = (),
    chdir: str | None = None,
) -> list[str]:
    """The one bubblewrap command line every sandbox starts: sia's namespaces, its
    seccomp filter (read from `seccomp_fd`), `flags`, the mounts of `plan`, a cleared
    environment, and `program` (a script and its arguments) run by sia's interpreter in
    isolated mode."""
    return [
        bwrap,
        *namespace_flags(),
        *(["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []),
        *flags,
        *plan.args(),
        *(["--chdir", chdir] if chdir else []),
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        sys.executable,
        "-I",
        *program,
    ]


@cache
def interpreter_paths(python: str) -> tuple[str, ...]:
    """What an interpreter needs to start and import its packages: its prefixes and
    the sys.path entries inside them or named site-packages. Editable installs' source
    trees (a checkout that may hold runs and private data) are left out on purpose."""
    probe = subprocess.run(
        [
            python,
            "-c",
            "import json, sys; print(json.dumps([[sys.prefix, sys.exec_prefix, "
            "sys.base_prefix, sys.base_exec_prefix], sys.path]))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    if probe.returncode != 0:
        raise SiaError(f"interpreter {python} does not start: {probe.stderr.strip()[-300:]}")
    prefixes, entries = json.loads(probe.stdout)
    keep = {os.path.realpath(p) for p in prefixes} | set(prefixes)
    roots = tuple(keep)
    for entry in entries:
        if not entry or not os.path.exists(entry):
            continue
        real = os.path.realpath(entry)
        if any(_under(real, r) for r in roots) or Path(real).name in (
            "site-packages",
            "dist-packages",
        ):
            keep.add(real)
    keep.add(os.path.realpath(os.path.dirname(python)))
    keep.add(os.path.dirname(os.path.abspath(python)))
    return _outermost(keep)


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _outermost(paths: set[str]) -> tuple[str, ...]:
    ordered = sorted(paths, key=lambda p: (p.count("/"), p))
    out: list[str] = []
    for path in ordered:
        if not any(_under(path, kept) for kept in out):
            out.append(path)
    return tuple(out)


@dataclass
class MountPlan:
    """The mounts of one sandbox, emitted in an order that makes them stack correctly."""

    ro: dict[str, str] = field(default_factory=dict)
    """Destination inside -> host source, read-only."""
    rw: dict[str, str] = field(default_factory=dict)
    tmpfs: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    """Destination -> (octal mode, size in bytes or None)."""
    hide: set[str] = field(default_factory=set)

    def system(self, python: str) -> MountPlan:
        for path in SYSTEM_DIRS:
            if os.path.islink(path) or os.path.isdir(path):
                self.ro[path] = path
        for path in interpreter_paths(python):
            self.ro[path] = path
        return self

    def args(self) -> list[str]:
        ops: list[tuple[str, list[str]]] = []
        for dest, src in self.ro.items():
            if os.path.islink(src) and dest in SYSTEM_DIRS:
                ops.append((dest, ["--symlink", os.readlink(src), dest]))
            else:
                ops.append((dest, ["--ro-bind", src, dest]))
        ops += [(dest, ["--bind", src, dest]) for dest, src in self.rw.items()]
        for dest, (mode, size) in self.tmpfs.items():
            sized = ["--size", str(size)] if size else []
            ops.append((dest, ["--perms", mode, *sized, "--tmpfs", dest]))
        binds = [*self.ro, *self.rw]
        for dest in sorted(self.hide):
            # Only what lies under a bind shows host files; a tmpfs is empty anyway, and a
            # path inside another hidden one is covered with it.
            if not any(_under(dest, b) and dest != b for b in binds):
                continue
            if any(_under(dest, h) and dest != h for h in self.hide):
                continue
            if os.path.isdir(dest):
                ops.append((dest, ["--perms", "0555", "--tmpfs", dest]))
            elif os.path.lexists(dest):
                ops.append((dest, ["--ro-bind", "/dev/null", dest]))
        ops.sort(key=lambda op: op[0].count("/"))
        out: list[str] = ["--perms", "0755", "--tmpfs", "/", "--proc", "/proc", "--dev", "/dev"]
        made: set[str] = {"/"}
        for dest, op in ops:
            # A parent inside a bind exists already (and is read-only); others are made.
            for parent in _parents(dest):
                if parent not in made and not any(_under(parent, m) for m in binds):
                    out += ["--perms", "0755", "--dir", parent]
                made.add(parent)
            out += op
            made.add(dest)
        return [*out, "--remount-ro", "/"]


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
