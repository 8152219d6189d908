"""Isolated Python environments for a generation's requirements.txt.

A requirements.txt comes from the backend (the Meta-/Feedback-Agent or a script), never
from an agent's outputs. It may name packages only: option lines (-i, --index-url,
--find-links, -e, ...), paths and URLs are refused with one line, and installation takes
wheels only (`--only-binary :all:`), so no package's build code runs on the host. Each
distinct file gets one virtual environment, cached by its content and sia's interpreter;
it sees sia's own packages (openai, ...) through a .pth file, because
`--system-site-packages` would expose the base interpreter's, not sia's virtualenv's.
Installation runs outside the sandbox (the sandbox has no network); the environment is
then mounted read-only into it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from sia_core.errors import SiaError
from sia_core.store import atomic_dir

INSTALL_TIMEOUT_S = 900
REQUIREMENTS_NAME = "sia-requirements.txt"
_PURELIB = "import sysconfig; print(sysconfig.get_path('purelib'))"
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar")


class EnvError(SiaError):
    pass


def cache_dir() -> Path:
    if os.environ.get("SIA_CACHE_DIR"):
        return Path(os.environ["SIA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sia"


def check_requirements(text: str) -> list[str]:
    """The package requirements in `text`; anything else is refused, naming the line.
    The result goes to pip as arguments, so pip's own file syntax (options, ${VAR}
    expansion) never applies."""
    found: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        problem = None
        if line.startswith("-"):
            problem = "pip options are not accepted"
        elif "://" in line or line.endswith("\\") or "$" in line:
            problem = "URLs, variables and continued lines are not accepted"
        elif line.startswith((".", "/", "~")) or "/" in line.split(";")[0] or "\\" in line:
            problem = "paths are not accepted"
        elif line.lower().endswith(_ARCHIVE_SUFFIXES):
            problem = "archives are not accepted"
        else:
            try:
                requirement = Requirement(line)
            except InvalidRequirement as exc:
                problem = f"not a requirement ({str(exc).splitlines()[0]})"
            else:
                if requirement.url:
                    problem = "direct references (name @ url) are not accepted"
                found.append(str(requirement))
        if problem:
            raise EnvError(
                f"requirements.txt line {number} ({line[:80]!r}): {problem}; name packages "
                "only, e.g. 'numpy>=1.26' (they install from wheels)"
            )
    return found


def _env_key(content: bytes) -> str:
    digest = hashlib.sha256(content)
    digest.update(sys.prefix.encode())
    return digest.hexdigest()[:16]


def requirements_of(python: str) -> tuple[str, ...]:
    """The packages of the environment `python` belongs to (none for sia's own)."""
    listed = Path(python).parent.parent / REQUIREMENTS_NAME
    if python == sys.executable or not listed.is_file():
        return ()
    return tuple(line for line in listed.read_text().splitlines() if line.strip())


def python_for(requirements: Path | None) -> str:
    """The interpreter that runs an agent with these requirements."""
    if requirements is None or not requirements.is_file() or requirements.is_symlink():
        return sys.executable
    content = requirements.read_bytes()
    if not content.strip():
        return sys.executable
    packages = check_requirements(content.decode("utf-8", errors="replace"))
    if not packages:
        return sys.executable
    env_dir = cache_dir() / "envs" / _env_key(content)
    python = env_dir / "bin" / "python"
    if python.is_file():
        return str(python)
    with atomic_dir(env_dir) as tmp:
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(tmp)],
            check=True,
            capture_output=True,
        )
        site = subprocess.run(
            [str(tmp / "bin" / "python"), "-c", _PURELIB],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        Path(site, "_sia_core_packages.pth").write_text(
            "".join(f"{path}\n" for path in sorted(ours)), encoding="utf-8"
        )
        proc = subprocess.run(
            [
                str(tmp / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-input",
                "--only-binary",
                ":all:",
                "--",
                *packages,
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise EnvError(f"requirements.txt did not install (wheels only): {last[:300]}")
        # A remote sandbox builds its image from the same list.
        (tmp / REQUIREMENTS_NAME).write_text("".join(f"{p}\n" for p in packages))
        # The sandbox runs the agent as another uid: it must be able to read the env.
        os.chmod(tmp, 0o755)
    return str(python)
