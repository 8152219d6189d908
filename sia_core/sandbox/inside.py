"""Init of a local sandbox: runs inside bubblewrap's namespaces, before the agent.

Standard library only: it runs as `python -I inside.py SPEC.json`. It relays
127.0.0.1:PORT to the gateway's Unix socket (the network namespace has loopback only),
starts the agent with its resource limits (as an unprivileged uid when the sandbox was
started by root), ends every process of the namespace if the agent passes its process
cap, and exits with the agent's status. The agent's logs and the violation note are
descriptors sia opened outside (their numbers in the spec): no path inside leads to
them, and this init is not dumpable, so the agent can neither replace nor forge them.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import resource
import signal
import sys

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
INSIDE_ROOT = "/tmp/sia"
PR_SET_DUMPABLE = 4
RELAY_BACKLOG = 4096
_libc = ctypes.CDLL(None, use_errno=True)


def limit_agent(memory_mb: int, max_processes: int, uid: int | None) -> None:
    """Runs in the agent's child process before exec."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if uid is not None:
        # Binds only for a uid of the agent's own; a shared one counts the user's
        # other processes too (the init's watcher covers that case).
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if uid is not None:
        # All three ids non-zero: the kernel clears every capability.
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


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


async def _cap_processes(limit: int, proc: asyncio.subprocess.Process, note: int) -> None:
    # Counting this pid namespace's processes catches a fork bomb even where
    # RLIMIT_NPROC does not bind; bwrap's pid 1 and this init are not the agent's.
    while proc.returncode is None:
        count = sum(1 for entry in os.listdir("/proc") if entry.isdigit()) - 2
        if count > limit:
            os.write(note, f"process cap exceeded: {count} processes, limit {limit}".encode())
            os.kill(-1, signal.SIGKILL)
            return
        await asyncio.sleep(0.02)


async def main(spec: dict) -> int:
    if spec["port"]:
        socket_path = f"{INSIDE_ROOT}/gateway/gateway.sock"
        await asyncio.start_server(
            lambda r, w: _relay_one(socket_path, r, w),
            "127.0.0.1",
            spec["port"],
            backlog=RELAY_BACKLOG,
        )
    limits = spec["memory_mb"], spec["max_processes"], spec["uid"]
    fds = spec["fds"]
    proc = await asyncio.create_subprocess_exec(
        *spec["argv"],
        cwd=f"{INSIDE_ROOT}/work",
        env=spec["env"],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=fds["stdout"],
        stderr=fds["stderr"],
        preexec_fn=lambda: limit_agent(*limits),
    )
    os.close(fds["stdout"])
    os.close(fds["stderr"])
    watcher = asyncio.create_task(_cap_processes(spec["max_processes"], proc, fds["violation"]))
    code = await proc.wait()
    watcher.cancel()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    sys.exit(asyncio.run(main(spec)))
