"""A run on disk: run.json plus one whole directory per generation.

    RUNS/run_<id>/run.json
    RUNS/run_<id>/gen_<n>/generation.json   this generation's record (the truth)
    RUNS/run_<id>/gen_<n>/...               target_agent.py, calls.jsonl, results.json, ...

run.json is an index rebuilt from the generation records, so a crash between renaming a
generation into place and updating run.json loses nothing.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core import run_layout
from sia_core.backends.contract import GenerationView
from sia_core.errors import SiaError
from sia_core.generation_record import GenerationRecord
from sia_core.store import atomic_write_json, clean_partial, read_json

if TYPE_CHECKING:
    from sia_core.gateway.serving import TaskModel
    from sia_core.tasks.task import Task


@dataclass
class RunDir:
    path: Path

    @classmethod
    def named(cls, runs_dir: Path, run_id: str) -> RunDir:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", run_id):
            raise SiaError(f"run id {run_id!r}: use letters, digits, '.', '_' and '-'")
        return cls(runs_dir.expanduser().resolve() / f"run_{run_id}")

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    def gen_dir(self, number: int) -> Path:
        return run_layout.gen_dir(self.path, number)

    def adapter(self, adapter_gen: int | None) -> Path | None:
        """The adapter generation `adapter_gen` trained (None: the base model)."""
        return run_layout.adapter_dir(self.gen_dir(adapter_gen)) if adapter_gen else None

    def exists(self) -> bool:
        return self.run_json.is_file()

    def read(self) -> dict[str, Any]:
        if not self.exists():
            raise SiaError(f"{self.path} is not a sia run (no run.json)")
        return read_json(self.run_json)

    def clean_partial(self) -> list[Path]:
        return clean_partial(self.path)

    def records(self) -> list[GenerationRecord]:
        """The records of every whole generation, in order."""
        found = []
        if not self.path.is_dir():
            return found
        for entry in self.path.iterdir():
            record = run_layout.record_path(entry)
            if run_layout.gen_number(entry) is not None and record.is_file():
                found.append(GenerationRecord.from_dict(read_json(record)))
        return sorted(found, key=lambda r: r.number)

    def write(self, state: dict[str, Any]) -> None:
        state["updated"] = time.time()
        atomic_write_json(self.run_json, state)


def list_runs(runs_dir: Path, follow_links: bool = True) -> list[tuple[Path, dict[str, Any]]]:
    """Each run directory under `runs_dir` (run_*, holding a readable run.json) with its
    run.json, by name. `follow_links=False` leaves out run directories that are links."""
    found = []
    for path in sorted(runs_dir.glob("run_*")) if runs_dir.is_dir() else []:
        if not follow_links and path.is_symlink():
            continue
        rundir = RunDir(path)
        if not rundir.exists():
            continue
        try:
            found.append((path, rundir.read()))
        except (SiaError, ValueError, OSError):
            continue  # a run.json cut short or unreadable is not a run to list
    return found


def archive_parent(
    records: list[GenerationRecord], direction: str, seed: int
) -> GenerationRecord | None:
    """A parent sampled from every scored generation, the k-th best with weight 1/k, so
    that a branch that lost once can still be built on."""
    scored = [r for r in records if r.status == "ok" and r.score is not None]
    if not scored:
        return None
    ranked = sorted(scored, key=lambda r: r.score, reverse=direction == "max")
    weights = [1.0 / rank for rank in range(1, len(ranked) + 1)]
    return random.Random(seed).choices(ranked, weights)[0]


def incumbent_of(records: list[GenerationRecord]) -> GenerationRecord | None:
    """The record of the current incumbent: the last generation that became one."""
    return next((r for r in reversed(records) if r.incumbent), None)


def index(state: dict[str, Any], records: list[GenerationRecord], direction: str) -> dict[str, Any]:
    """Fold generation records into run.json's summary fields."""
    incumbent = incumbent_of(records)
    totals = [r.totals() for r in records]
    tokens = {
        "prompt": sum(t.prompt_tokens for t in totals),
        "completion": sum(t.completion_tokens for t in totals),
    }
    cost = sum(t.cost_usd for t in totals)
    unpriced = sum(t.calls_without_price for t in totals)
    state["generations"] = [
        {
            k: getattr(r, k)
            for k in (
                "number",
                "status",
                "score",
                "test_score",
                "incumbent",
                "error",
                "lever",
                "algorithm",
            )
        }
        for r in records
    ]
    state["incumbent"] = incumbent.number if incumbent else None
    state["best"] = (
        {
            "generation": incumbent.number,
            "selection_score": incumbent.score,
            "test_score": incumbent.test_score,
        }
        if incumbent
        else None
    )
    sessions = [
        {"generation": r.number, **session}
        for r in records
        for session in r.agent_sessions or []
        if isinstance(session, dict)
    ]
    priced = [s["cost_usd"] for s in sessions if isinstance(s.get("cost_usd"), (int, float))]
    state["agent_sessions"] = sessions
    state["agent_usage"] = {
        "sessions": len(sessions),
        "input_tokens": sum(int(s.get("input_tokens", 0)) for s in sessions),
        "output_tokens": sum(int(s.get("output_tokens", 0)) for s in sessions),
        "cost_usd": round(sum(priced), 6),
        "sessions_without_price": len(sessions) - len(priced),
    }
    state["tokens"] = tokens
    state["cost_usd"] = round(cost, 6)
    state["calls_without_price"] = unpriced
    state["direction"] = direction
    return state


def held_out(task: dict[str, Any]) -> bool:
    """Whether a run's reported test score is held out from selection (runs written
    before the task's own `[validation] view` counted said so only in their text)."""
    return bool(task.get("held_out")) or str(task.get("selection", "")).startswith("validation")


def initial_state(run_id: str, task: Task, seed: int, serving: TaskModel) -> dict[str, Any]:
    """run.json of a new run: what it runs on, and how it selects and reports."""
    split = task.config.validation
    if task.config.selection_data is not None:
        selection = (
            f"validation: the task's own selection split ({task.config.selection_data}/); "
            "the reported score is held out"
        )
    elif split is None:
        selection = (
            "test: this task has no validation split, so selection and the "
            "reported score use the same items (as the original SIA does)"
        )
    else:
        selection = (
            f"validation: {split.fraction:.0%} of {split.source} carved with seed "
            f"{split.seed}; the reported score is held out"
        )
    return {
        "run_id": run_id,
        "created": time.time(),
        "task": {
            "name": task.name,
            "root": str(task.root),
            "metric": task.config.metric,
            "direction": task.config.direction,
            "selection": selection,
            "held_out": split is not None or task.config.selection_data is not None,
        },
        "seeds": {"run": seed},
        "task_model": {"name": serving.name, "local": serving.local is not None},
    }


def generation_views(rundir: RunDir, records: list[GenerationRecord]) -> list[GenerationView]:
    """What a backend sees of each whole generation."""
    return [
        GenerationView(
            number=r.number,
            dir=rundir.gen_dir(r.number),
            status=r.status,
            score=r.score,
            error=r.error,
            decision=r.decision,
            kept=r.incumbent,
            adapter_gen=r.adapter_gen,
        )
        for r in records
    ]
