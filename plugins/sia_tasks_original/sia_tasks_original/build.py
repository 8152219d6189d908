"""Build a task directory from the original data plus this package's own files, once."""

from __future__ import annotations

import json
import shutil
from importlib.resources import files
from pathlib import Path

from sia_core.api.tasks import build_once, cache_dir, refresh
from sia_core.api.tasks import is_built as pack_is_built
from sia_tasks_original.catalog import SAMPLES, TASKS
from sia_tasks_original.source import Source, default_source

VERSION = 1
FILES = Path(str(files("sia_tasks_original") / "files"))
OWN_FILES = {
    "task.md": "data/public/task.md",
    "evaluate.py": "data/public/evaluate.py",
    "agent.py": "reference/reference_target_agent.py",
    "task.toml": "task.toml",
    "requirements.txt": "reference/requirements.txt",
}


def own_files(name: str) -> dict[str, str]:
    """This package's files of task `name` (a harness needs a requirements.txt only for
    its classical path)."""
    return {own: target for own, target in OWN_FILES.items() if (FILES / name / own).is_file()}


def location(name: str) -> Path:
    return cache_dir() / "tasks" / f"original-v{VERSION}" / name


def is_built(name: str) -> bool:
    return pack_is_built(location(name))


def assemble(name: str, source: Source, root: Path) -> None:
    for member, target in {**TASKS[name].members, SAMPLES: SAMPLES}.items():
        dest = root / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(source.read(f"{name}/{member}"))
    for own, target in own_files(name).items():
        shutil.copy2(FILES / name / own, root / target)
    # Outside data/: provenance is for the researcher, not for the agent.
    (root / "provenance.json").write_text(json.dumps(source.describe(), indent=2) + "\n")


def build(name: str, source: Source | None = None, *, force: bool = False) -> Path:
    """The task directory for `name`, built from `source` (default: the original wheel)."""
    dest = location(name)
    if force and dest.exists():
        shutil.rmtree(dest)
    root = build_once(dest, lambda tmp: assemble(name, source or default_source(), tmp))
    refresh({FILES / name / own: root / target for own, target in own_files(name).items()})
    return root


task_dir = build  # what the loader calls (sia_core.api.tasks.lazy_loader)
