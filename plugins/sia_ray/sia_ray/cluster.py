"""Connecting to a Ray cluster: one line when there is none, before any work."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from sia_core.api import SiaError

KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
"""All of sia's environment a local cluster it starts gets: never a provider key."""


def connect(options: Mapping[str, str]) -> str:
    """Join the cluster named by `address=` (a `ray://` client address, HOST:PORT,
    `auto`, or `local`: start a single-node cluster for this run), else RAY_ADDRESS, else
    `auto`; return the address joined."""
    import ray

    address = options.get("address") or os.environ.get("RAY_ADDRESS") or "auto"
    if ray.is_initialized():
        return address
    if address == "local":
        address = start_local()
    _reachable(address)
    try:
        # No runtime environment from sia's process: workers get nothing of its
        # environment (provider keys stay here).
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SiaError(
            f"no Ray cluster at {address!r} ({str(exc).splitlines()[0][:200]}); start one "
            "(`ray start --head`) or name it with --sandbox-opt address=HOST:PORT"
        ) from None
    return address


def _reachable(address: str) -> None:
    """Ray retries an unreachable address for minutes: probe it first, for one line."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return
    except (OSError, ValueError) as exc:
        raise SiaError(
            f"no Ray cluster at {address!r} ({exc}); start one (`ray start --head`) or name "
            "it with --sandbox-opt address=HOST:PORT"
        ) from None


def start_local() -> str:
    """A single-node Ray cluster on this machine for this run, started from a scrubbed
    environment (workers inherit the raylet's: sia's keys must not be in it), stopped
    when sia exits."""
    port = _free_port()
    env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}",
         f"--num-cpus={os.cpu_count() or 1}", "--include-dashboard=false",
         "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    atexit.register(_stop, head)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise SiaError(f"`ray start --head` exited with code {head.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            time.sleep(2)  # the head answers before its raylet has registered
            return f"127.0.0.1:{port}"
        time.sleep(0.5)
    _stop(head)
    raise SiaError("a local Ray cluster did not start within 120 s")


def _stop(head: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
