"""Init process of a local sandbox, run inside fresh user, mount, pid and net namespaces.

Standard library only: it runs as `python -I inside.py SPEC.json` before anything else
is set up. It hides the paths it is told to hide, mounts a private /tmp holding only
the sandbox's stage (seen as /tmp/sia), brings up loopback, relays 127.0.0.1:PORT to
the gateway's Unix socket, then runs the agent with resource limits and no
capabilities, ends every process of the namespace if the agent exceeds its process
cap, and exits with the agent's status.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

INSIDE_ROOT = "/tmp/sia"
_libc = ctypes.CDLL(None, use_errno=True)


def _enc(value: str | None) -> bytes | None:
    return value.encode() if value is not None else None


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    if _libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _hide(path: str) -> None:
    if os.path.isdir(path):
        _mount(
            "tmpfs",
            path,
            "tmpfs",
            MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "size=4k,mode=0555",
        )
    elif os.path.exists(path):
        _mount("/dev/null", path, None, MS_BIND, None)


def _loopback_up() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b"\0" * 14))
    finally:
        sock.close()


COVERED = ("/tmp", "/var/tmp", "/dev/shm")


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def setup_mounts(stage: str, hide: list[str], keep: list[str]) -> None:
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    # Keep handles on what must stay visible: the covering mounts below would hide the
    # stage, and an interpreter or its packages that live under /tmp.
    stage_fd = os.open(stage, os.O_PATH | os.O_DIRECTORY)
    kept = [
        (path, os.open(path, os.O_PATH | os.O_DIRECTORY))
        for path in keep
        if os.path.isdir(path) and any(_under(path, c) for c in COVERED)
    ]
    for path in hide:
        _hide(path)
    for path in COVERED:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for path, fd in kept:
        # MS_REC carries the hiding mounts below the kept path along with it.
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
        os.close(fd)
    os.mkdir(INSIDE_ROOT)
    _mount(f"/proc/self/fd/{stage_fd}", INSIDE_ROOT, None, MS_BIND | MS_REC, None)
    os.close(stage_fd)
    dataset = f"{INSIDE_ROOT}/dataset"
    _mount(dataset, dataset, None, MS_BIND, None)
    _mount(None, dataset, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def limit_agent(memory_mb: int, max_processes: int) -> None:
    """Runs in the agent's child process before exec."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Without capabilities the agent cannot unmount what hides the private data.
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _relay_one(socket_path: str, reader, writer) -> None:
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(socket_path)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _cap_processes(limit: int, proc: asyncio.subprocess.Process) -> None:
    # RLIMIT_NPROC does not bind a user namespace whose root is the real root, so count
    # the processes of this pid namespace instead and end them all past the cap.
    while proc.returncode is None:
        count = sum(1 for entry in os.listdir("/proc") if entry.isdigit()) - 1
        if count > limit:
            with open(f"{INSIDE_ROOT}/violation.txt", "w") as fh:
                fh.write(f"process cap exceeded: {count} processes, limit {limit}")
            os.kill(-1, signal.SIGKILL)
            return
        await asyncio.sleep(0.02)


async def main(spec: dict) -> int:
    if spec["port"]:
        socket_path = f"{INSIDE_ROOT}/gateway.sock"
        await asyncio.start_server(
            lambda r, w: _relay_one(socket_path, r, w), "127.0.0.1", spec["port"]
        )
    limits = spec["memory_mb"], spec["max_processes"]
    with (
        open(f"{INSIDE_ROOT}/stdout.log", "wb") as out,
        open(f"{INSIDE_ROOT}/stderr.log", "wb") as err,
    ):
        proc = await asyncio.create_subprocess_exec(
            *spec["argv"],
            cwd=f"{INSIDE_ROOT}/work",
            env=spec["env"],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=lambda: limit_agent(*limits),
        )
        watcher = asyncio.create_task(_cap_processes(spec["max_processes"], proc))
        code = await proc.wait()
        watcher.cancel()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    setup_mounts(spec["stage"], spec["hide"], spec["keep"])
    _loopback_up()
    sys.exit(asyncio.run(main(spec)))
