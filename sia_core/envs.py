"""Isolated Python environments for a generation's requirements.txt.

Each distinct requirements file gets one virtual environment, cached by the hash of its
content under the sia cache directory and built with the core's packages visible
(`--system-site-packages`), so an agent adds what it needs without touching the core.
Installation runs outside the sandbox: the sandbox has no network.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from sia_core.store import atomic_dir

INSTALL_TIMEOUT_S = 900


class EnvError(Exception):
    pass


def cache_dir() -> Path:
    if os.environ.get("SIA_CACHE_DIR"):
        return Path(os.environ["SIA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sia"


def python_for(requirements: Path | None) -> str:
    """The interpreter that runs an agent with these requirements."""
    if requirements is None or not requirements.is_file():
        return sys.executable
    content = requirements.read_bytes()
    if not content.strip():
        return sys.executable
    key = hashlib.sha256(content).hexdigest()[:16]
    env_dir = cache_dir() / "envs" / key
    python = env_dir / "bin" / "python"
    if python.is_file():
        return str(python)
    with atomic_dir(env_dir) as tmp:
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(tmp)],
            check=True,
            capture_output=True,
        )
        proc = subprocess.run(
            [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise EnvError(f"requirements.txt did not install: {last[:300]}")
    return str(python)
