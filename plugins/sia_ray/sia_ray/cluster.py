"""Connecting to a Ray cluster: one line when there is none, before any work."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from sia_core.api import SiaError


def connect(options: Mapping[str, str]) -> str:
    """Join the cluster named by `address=` (a `ray://` client address, HOST:PORT, or
    `auto`), else RAY_ADDRESS, else `auto`; return the address joined."""
    import ray

    address = options.get("address") or os.environ.get("RAY_ADDRESS") or "auto"
    if ray.is_initialized():
        return address
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
