"""The contract between the generation loop and an agent backend.

A backend plays two roles. As the Meta-Agent it writes generation 1's target_agent.py
into `ctx.out_dir`. As the Feedback-Agent it reads what the last generations did and
returns a Decision; for the harness lever it also writes the next target_agent.py (and
improvement.md) into `ctx.out_dir`, which starts as a copy of the parent's harness.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sia_core.errors import SiaError
from sia_core.tasks.task import Task
from sia_core.weights.shapes import AlgorithmInfo, ShapeReport

LEVERS = ("harness", "weights", "both")


class BackendCannotAct(SiaError):
    """The backend has nothing (more) to propose; the run ends cleanly with this reason
    (status "stopped", exit code 4)."""


class NothingLeftToImprove(BackendCannotAct):
    """The backend ends the run because no generation could beat the incumbent (every
    selection item already succeeds): the run is finished, not stopped."""


@dataclass
class Decision:
    lever: str
    rationale: str
    algorithm: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    source: str = "backend"
    """Who decided: "backend", "reference" or "fallback: <why>"."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        lever = data.get("lever")
        if lever not in LEVERS:
            raise ValueError(f"lever must be one of {', '.join(LEVERS)}, got {lever!r}")
        if lever != "harness" and not data.get("algorithm"):
            raise ValueError(f"lever {lever!r} needs an 'algorithm'")
        return cls(
            lever=lever,
            rationale=str(data.get("rationale", "")),
            algorithm=data.get("algorithm"),
            hyperparameters=dict(data.get("hyperparameters") or {}),
            source=str(data.get("source", "backend")),
        )


@dataclass(frozen=True)
class GenerationView:
    number: int
    dir: Path
    status: str
    score: float | None
    error: str | None
    decision: dict[str, Any] | None
    kept: bool = False
    """It became the incumbent (beat the one before it under the keep rule)."""
    adapter_gen: int | None = None
    """The generation whose adapter it ran with (None: the base weights)."""


@dataclass(frozen=True)
class TrialReport:
    """How a candidate harness did on a small sample, as an agent is told it."""

    ok: bool
    items: int
    exit_code: int | None
    timed_out: bool
    duration_s: float
    calls: int
    score: float | None
    """On labelled training rows; None when the sample has no labels to score against."""
    statuses: dict[str, int]
    files: list[str]
    stdout_tail: str
    stderr_tail: str
    note: str = ""

    def as_text(self, metric: str) -> str:
        lines = [
            f"ran on {self.items} items: {'ok' if self.ok else 'FAILED'} "
            f"(exit code {self.exit_code}, {self.duration_s:.1f} s"
            f"{', timed out' if self.timed_out else ''}), {self.calls} model calls",
            f"files written: {', '.join(self.files) or 'none'}",
        ]
        if self.score is not None:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
            lines.append(f"{metric} on these items: {self.score:.4f} ({counts})")
        if self.note:
            lines.append(self.note)
        if self.stdout_tail.strip():
            lines.append("stdout (end):\n" + self.stdout_tail[-2000:])
        if self.stderr_tail.strip():
            lines.append("stderr (end):\n" + self.stderr_tail[-3000:])
        return "\n".join(lines)


Trial = Callable[[Path, int], TrialReport]
"""Run the harness file on a sample of about N items through the sandbox and gateway."""
SelectionTrial = Callable[[Path], TrialReport]
"""Run the harness file on the whole selection split and score it, as the generation's
own evaluation would: for a backend that tries several settings in one generation."""

RowsTrial = Callable[[Path, list[str]], dict[str, bool]]
"""Run the harness file on these labelled training rows (ids of the file the selection
view leaves to the agent; never selection or test rows) and say, per id, whether it
answered right: which rows the current model gets right, for bootstrapped demos. An id
missing from the answer was not scored (the run failed or skipped it)."""


@dataclass(frozen=True)
class RowsProbe:
    calls: list[dict[str, Any]]
    """The gateway's records of the run's calls (calls.jsonl), each with its request."""
    rewards: dict[str, float]
    """Each scored row's reward."""


RequestsTrial = Callable[[Path, list[str]], RowsProbe | None]
"""Run the harness file on these labelled training rows (as `RowsTrial`) and return the
model calls it made and each row's reward: what the setting does, compared with what
another did on the same rows. None when the run failed or the task has no labelled rows."""


@dataclass(frozen=True)
class MetaContext:
    task: Task
    out_dir: Path
    meta_model: str | None
    task_model: str | None
    trial: Trial | None = None


@dataclass(frozen=True)
class FeedbackContext:
    task: Task
    out_dir: Path
    number: int
    """The generation being produced."""
    history: list[GenerationView]
    parent: GenerationView
    """The generation the next one builds on: the incumbent, or the latest if none."""
    reward_report: ShapeReport | None
    algorithms: list[AlgorithmInfo]
    weights_available: bool
    """True when the task model is an open-weight model the engine can train."""
    meta_model: str | None
    task_model: str | None = None
    trial: Trial | None = None
    algorithm_configs: dict[str, type | None] = field(default_factory=dict)
    """Each installed algorithm's typed config (`RLAlgorithmSpec.config`): what its
    "algorithm" options are checked against; an algorithm missing here takes none."""
    candidate: int = 1
    """Which of this generation's `candidates` children is asked for (1-based)."""
    candidates: int = 1
    siblings: list[Decision] = field(default_factory=list)
    """The decisions of this generation's earlier candidates: a backend proposing several
    children makes this one differ from them."""
    run_dir: Path | None = None
    """The run directory: where a backend keeps state across generations (the knob
    study), read back on `--resume`."""
    on_selection: SelectionTrial | None = None
    """Scores a candidate harness on the selection split (its usage counts as trials)."""
    on_rows: RowsTrial | None = None
    """Which training rows a candidate harness answers right (its usage counts as trials)."""
    on_requests: RequestsTrial | None = None
    """What a candidate harness sends the model on a few training rows (its usage counts
    as trials): a setting that sends what a scored one sent need not be scored again."""
    selection: Task | None = None
    """The selection split's view of the task (the carved validation rows as its items),
    or the task itself when it has no validation split."""
    seed: int = 0


def start_from_reference(ctx: MetaContext, missing: str) -> Decision:
    """Generation 1 as the task's reference agent; `missing` explains its absence."""
    if ctx.task.reference_agent is None:
        raise BackendCannotAct(
            f"{missing}, and the task has no reference/reference_target_agent.py"
        )
    shutil.copy2(ctx.task.reference_agent, ctx.out_dir / "target_agent.py")
    # What the reference imports beyond sia's environment (scikit-learn for a classical
    # path), installed from wheels into the harness's own environment.
    requirements = ctx.task.reference_agent.parent / "requirements.txt"
    if requirements.is_file():
        shutil.copy2(requirements, ctx.out_dir / "requirements.txt")
    return Decision(
        lever="harness", rationale="generation 1 is the task's reference agent", source="reference"
    )


class Backend(Protocol):
    name: str

    def initial(self, ctx: MetaContext) -> Decision: ...

    def feedback(self, ctx: FeedbackContext) -> Decision: ...
