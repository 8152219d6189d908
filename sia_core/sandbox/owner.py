"""Whose leftovers: every stage directory, box directory, policy worker's scratch and
cgroup sia makes is named for the process that made it: `sia-KIND-PID-NS-…`, NS being
its pid namespace (the inode of /proc/self/ns/pid). A sia killed with -9 cannot clean
up; the next sandbox on the machine removes what belongs to a process of its own pid
namespace that no longer runs. A pid from another namespace (a container sharing /tmp
or the cgroup tree) says nothing here, so those are never touched."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

KINDS = ("sandbox", "box", "process", "remote", "worker")
NAMED = re.compile(rf"sia-(?:{'|'.join(KINDS)})-(\d+)-(\d+)-")
GRACE_S = 60.0
"""A leftover younger than this is left alone whatever its name says: a margin for
owners the pid check cannot see."""


def _namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _runs(pid: int) -> bool:
    # A signal 0 rather than /proc/PID: /proc mounted with hidepid hides other users'.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def owner_tag() -> str:
    """`PID-NS` of this process, for the name of what it makes."""
    return f"{os.getpid()}-{_namespace()}"


def owner_gone(path: Path) -> bool:
    """True when `path` is named for a sia process of this pid namespace that no longer
    runs and is older than the grace period; False for anything else, or what cannot be
    read."""
    named = NAMED.match(path.name)
    if named is None or int(named.group(2)) != _namespace():
        return False
    pid = int(named.group(1))
    if pid == os.getpid() or _runs(pid):
        return False
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return age >= GRACE_S
