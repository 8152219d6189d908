"""Copying what an agent left in its work directory back to the host, as hostile input.

Only regular files and directories are copied; links, devices, sockets and fifos are
skipped, every open uses O_NOFOLLOW and is checked with fstat, and directories are
walked by descriptor, so nothing outside the stage is ever read. Top-level names that
sia reserves for its own records are dropped, not copied over them. A stage that looks
wrong (too many files, too many bytes, too deep) raises CopyBackError: the caller fails
that generation with the reason.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILES = 20_000
MAX_BYTES = 2 * 1024**3
MAX_DEPTH = 32
_CHUNK = 1 << 20


class CopyBackError(Exception):
    pass


@dataclass
class CopyBack:
    dropped: list[str] = field(default_factory=list)
    """Reserved top-level names the agent wrote; not copied."""
    skipped: list[str] = field(default_factory=list)
    """Links and special files; not copied."""
    files: int = 0
    bytes: int = 0


def copy_back(
    src: Path,
    dest: Path,
    reserved: frozenset[str] = frozenset(),
    *,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
) -> CopyBack:
    result = CopyBack()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise CopyBackError(
            f"the work directory is not a plain directory: {exc.strerror}"
        ) from None
    try:
        _copy_dir(fd, dest, "", reserved, result, max_files, max_bytes, 0)
    finally:
        os.close(fd)
    return result


def _copy_dir(
    dir_fd: int,
    dest: Path,
    rel: str,
    reserved: frozenset[str],
    result: CopyBack,
    max_files: int,
    max_bytes: int,
    depth: int,
) -> None:
    if depth > MAX_DEPTH:
        raise CopyBackError(f"outputs nest deeper than {MAX_DEPTH} directories ({rel})")
    for name in sorted(os.listdir(dir_fd)):
        path = f"{rel}{name}"
        if depth == 0 and name in reserved:
            result.dropped.append(name)
            continue
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode):
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                target = dest / name
                target.mkdir(exist_ok=True)
                _copy_dir(
                    child, target, path + "/", reserved, result, max_files, max_bytes, depth + 1
                )
            finally:
                os.close(child)
        elif stat.S_ISREG(info.st_mode):
            result.files += 1
            if result.files > max_files:
                raise CopyBackError(f"the agent left more than {max_files} files")
            _copy_file(dir_fd, name, dest / name, path, result, max_bytes)
        else:
            result.skipped.append(path)


def _copy_file(
    dir_fd: int, name: str, target: Path, path: str, result: CopyBack, max_bytes: int
) -> None:
    # O_NONBLOCK: a fifo swapped in after the stat must not hang the copy.
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            result.skipped.append(path)
            return
        if target.is_symlink() or (target.exists() and not target.is_file()):
            result.skipped.append(path)
            return
        with open(target, "wb") as out:
            while chunk := os.read(fd, _CHUNK):
                result.bytes += len(chunk)
                if result.bytes > max_bytes:
                    raise CopyBackError(f"the agent's outputs exceed {max_bytes // 1024**2} MiB")
                out.write(chunk)
    finally:
        os.close(fd)
