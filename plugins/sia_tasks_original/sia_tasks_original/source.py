"""Where the original task data comes from: the MIT wheel sia-agent==0.6.0, or a copy of it.

Inside the wheel the data sits under `sia/tasks/<task>/`. A `--data-from PATH` (or the
environment variable SIA_ORIGINAL_DATA) names the wheel file itself, an unpacked wheel
(a folder holding `sia/tasks`), or the `tasks` folder. A wheel is checked against the
published sha256; an unpacked folder is taken as the researcher's own copy.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sia_core.api import SiaError
from sia_core.api.tasks import cache_dir, download_wheel
from sia_tasks_original.catalog import TASKS

REQUIREMENT = "sia-agent==0.6.0"
WHEEL = "sia_agent-0.6.0-py3-none-any.whl"
SHA256 = "10a186ea66d83a7278d911e913fb6a964cb48a8795625814b736e220a4b56961"
PREFIX = "sia/tasks/"
ENV = "SIA_ORIGINAL_DATA"


class DataError(SiaError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Source:
    """Reads `<task>/<path>` members from a wheel or a folder of original tasks."""

    location: Path
    sha256: str | None = None

    def read(self, member: str) -> bytes:
        if self.location.is_file():
            with zipfile.ZipFile(self.location) as wheel:
                try:
                    return wheel.read(PREFIX + member)
                except KeyError:
                    raise DataError(f"{self.location} has no {PREFIX}{member}") from None
        path = self.location / member
        if not path.is_file():
            raise DataError(
                f"{path} is missing: --data-from must hold the original tasks "
                f"(a folder with {member.split('/')[0]}/data/...)"
            )
        return path.read_bytes()

    def describe(self) -> dict[str, str | None]:
        return {"location": str(self.location), "sha256": self.sha256}


def _checked_wheel(path: Path) -> Source:
    digest = sha256_of(path)
    if digest != SHA256:
        raise DataError(
            f"{path} has sha256 {digest}, not the published {SHA256} of {REQUIREMENT}; "
            "remove it and fetch again, or pass an unpacked copy with --data-from"
        )
    return Source(path, digest)


def from_path(path: Path) -> Source:
    """A source named by the user: a wheel, an unpacked wheel, or its tasks folder."""
    path = path.expanduser().resolve()
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise DataError(f"--data-from {path}: not a wheel (zip) file nor a folder")
        return _checked_wheel(path)
    for candidate in (path / "sia" / "tasks", path / "tasks", path):
        if candidate.is_dir() and any((candidate / t / "data").is_dir() for t in TASKS):
            return Source(candidate)
    raise DataError(
        f"--data-from {path}: no original task data there; expected the {WHEEL} file, "
        "an unpacked wheel (with sia/tasks/) or its tasks folder"
    )


def _download(dest: Path) -> None:
    download_wheel(
        REQUIREMENT,
        WHEEL,
        dest,
        f"download {WHEEL} elsewhere and pass --data-from PATH, or set {ENV}=PATH",
        error=DataError,
        check=_checked_wheel,
    )


def default_source() -> Source:
    """SIA_ORIGINAL_DATA if set, else the cached wheel, fetched from PyPI on first use."""
    if os.environ.get(ENV):
        return from_path(Path(os.environ[ENV]))
    wheel = cache_dir() / "downloads" / WHEEL
    if not wheel.is_file():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        _download(wheel)
    try:
        return _checked_wheel(wheel)
    except DataError:
        wheel.unlink()  # a damaged download is fetched again next time
        raise
