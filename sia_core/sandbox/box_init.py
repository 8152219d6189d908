"""The stand-in box's init: runs inside bubblewrap as
`python -I box_init.py FD MEMORY_MB`, standard library only.

sia's stand-in transport (sia_modal.standin) plays Modal's Sandbox.exec through it: each
connection to the listening socket FD (it has no path inside the box) carries one JSON
request ({"argv", "env"}) and, with SCM_RIGHTS, the three pipe ends that become the new
process's stdin, stdout and stderr. The process runs inside this box's namespaces; its
exit code goes back on the connection. When sia closes the connection first, the process
group is killed (Modal's ContainerProcess has no more).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading


def serve(conn: socket.socket) -> None:
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    request = json.loads(message)
    try:
        proc = subprocess.Popen(
            request["argv"],
            stdin=fds[0],
            stdout=fds[1],
            stderr=fds[2],
            env=request.get("env") or {"PATH": "/usr/bin:/bin"},
            start_new_session=True,
        )
    except OSError as exc:
        os.write(fds[2], f"cannot start {request['argv'][0]}: {exc}\n".encode())
        conn.sendall(b"127")
        conn.close()
        return
    finally:
        for fd in fds:
            os.close(fd)

    def watch() -> None:
        # sia hung up before the process ended: kill it, as Modal would on terminate
        try:
            hung_up = not conn.recv(1)
        except OSError:
            return
        if hung_up and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    code = proc.wait()
    with contextlib.suppress(OSError):
        conn.sendall(str(code if code >= 0 else 128 - code).encode())
    conn.close()


def main(fd: int) -> None:
    server = socket.socket(fileno=fd)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    # Every process started here inherits the address-space cap (MiB).
    cap = int(sys.argv[2]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    main(int(sys.argv[1]))
