"""What plugins register: one small, typed record per extension point.

Records hold cheap data and callables that import heavy libraries only when called,
so that loading every plugin stays fast and imports no torch, litellm or anthropic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sia_core.weights.shapes import AlgorithmInfo, ShapeReport

if TYPE_CHECKING:
    from sia_core.options import OptionInfo
    from sia_core.sandbox.api import Sandbox

__all__ = [  # AlgorithmInfo and ShapeReport live with the weights lever; named here too
    "AlgorithmInfo",
    "BackendSpec",
    "PolicyConnection",
    "PolicyHostSpec",
    "Registered",
    "RewardClassifierSpec",
    "RLAlgorithmSpec",
    "SandboxSpec",
    "ShapeReport",
    "TaskInfo",
    "TaskLoaderSpec",
]


@dataclass(frozen=True)
class BackendSpec:
    """An agent backend that plays the Meta-Agent and the Feedback-Agent."""

    name: str
    summary: str
    factory: Callable[[Mapping[str, str]], Any]
    """Called with the run's `--backend-opt KEY=VALUE` pairs; returns a ready
    `sia_core.backends.contract.Backend` (typed Any here: the backend contract sits in a
    layer above these records, docs/architecture.md)."""


@dataclass(frozen=True)
class SandboxSpec:
    """A place where task-agent code (and later training jobs) runs."""

    name: str
    summary: str
    factory: Callable[[Mapping[str, str]], Sandbox]
    """Called with the run's `--sandbox-opt KEY=VALUE` pairs; refuses an unknown one
    (SiaError, one line) and raises SandboxUnavailable if this machine cannot host it.
    Checked like a backend's factory: callable at registration, the Sandbox contract
    (`name`, `shielded`, `run`) on what it builds, before any job runs."""


class PolicyConnection(Protocol):
    """A policy worker (sia_core.policy.worker.PolicyWorker) running somewhere else."""

    def call(self, method: str, *args: Any) -> Any:
        """Run `PolicyWorker.method(*args)` there and return its result. Arguments and
        results are plain picklable values (dicts, lists, bytes, RLBatch)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PolicyHostSpec:
    """Where the open-weight task model is served and trained when not in sia's process
    (`sia run --policy-host NAME`), e.g. on a rented GPU."""

    name: str
    summary: str
    factory: Callable[[Mapping[str, str], dict[str, Any]], PolicyConnection]
    """Called with the run's `--policy-host-opt KEY=VALUE` pairs and the worker's
    arguments (`model`, `lora`, `seed`, `run`, `exact`); starts a PolicyWorker and returns the
    connection to it. Refuses an unknown option with a SiaError (one line)."""


@dataclass(frozen=True)
class RLAlgorithmSpec:
    """An RL algorithm for the weights lever.

    `trainer` is an import path "package.module:function"; the module is imported only
    when a generation trains with this algorithm.
    """

    info: AlgorithmInfo
    trainer: str
    config: type | None = None
    """The algorithm's options: a dataclass whose fields are `sia_core.options.option`s
    (help, default, bounds). A decision's "algorithm" options are parsed into it before
    any rollout; the trainer gets them, checked, as a dict. None: no options."""

    @property
    def name(self) -> str:
        return self.info.name

    def options(self) -> list[OptionInfo]:
        from sia_core.options import describe

        return describe(self.config) if self.config is not None else []


class RewardClassify(Protocol):
    def __call__(
        self, rewards: Sequence[float], algorithms: Sequence[AlgorithmInfo]
    ) -> ShapeReport: ...


@dataclass(frozen=True)
class RewardClassifierSpec:
    """Labels the shape of a generation's per-item rewards and ranks algorithms for it."""

    name: str
    summary: str
    classify: RewardClassify


@dataclass(frozen=True)
class TaskInfo:
    name: str
    description: str
    available: bool = True
    """False when the task's data still has to be fetched or prepared."""


@dataclass(frozen=True)
class TaskLoaderSpec:
    """Resolves `--task NAME` to a task directory in the SIA layout."""

    name: str
    summary: str
    list_tasks: Callable[[], Sequence[TaskInfo]]
    resolve: Callable[[str], Path | None]
    """Return the task directory for a name this loader owns, or None if it is not its."""


@dataclass(frozen=True)
class Registered:
    """A registered record and the plugin that registered it."""

    kind: str
    name: str
    plugin: str
    spec: Any = field(compare=False)
