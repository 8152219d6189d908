"""The contract between the core and a sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class GatewayLink:
    """What a sandbox needs to let the agent reach the model gateway."""

    port: int
    token: str
    model: str
    listen_unix: Callable[[Path], Callable[[], None]]
    """Start serving on a Unix socket at the path; returns a function that stops it."""


@dataclass(frozen=True)
class SandboxJob:
    agent_file: Path
    dataset_dir: Path
    """The public data; the sandbox gives the agent a copy, never this directory."""
    output_dir: Path
    """What the agent wrote to its working directory is copied here afterwards."""
    python: str
    timeout_s: float
    memory_mb: int
    max_processes: int
    gateway: GatewayLink | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Extra variables for the agent (never secrets)."""
    hidden_paths: tuple[Path, ...] = ()
    """Paths the agent must not be able to read (private data, other generations), on
    top of whatever the sandbox already keeps out."""
    extra_args: tuple[str, ...] = ()
    gpu: str | None = None
    """The accelerator the job asks for ([limits] gpu in task.toml, e.g. "H100"); a
    sandbox without GPUs (local, process) runs it without one."""
    reserved_names: frozenset[str] = frozenset()
    """Top-level names in output_dir that belong to sia's records: an agent output with
    one of these names is dropped (and listed in `SandboxResult.dropped`), never copied."""


OUTPUTS_REFUSED = "outputs refused: "
"""How a violation says copy-back refused the agent's outputs (nothing was copied)."""


@dataclass
class SandboxResult:
    exit_code: int | None
    timed_out: bool
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    isolation: list[str]
    """What was enforced, e.g. ["pid-namespace", "network: gateway only", ...]."""
    violation: str | None = None
    """A limit the sandbox enforced by ending the agent (other than the wall clock), or
    why its outputs were refused."""
    dropped: list[str] = field(default_factory=list)
    """Agent outputs with a reserved name, not copied back."""

    @property
    def outputs_refused(self) -> bool:
        return (self.violation or "").startswith(OUTPUTS_REFUSED)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.violation

    @property
    def reason(self) -> str | None:
        if self.timed_out:
            return f"agent timed out after {self.duration_s:.0f} s"
        if self.violation:
            return f"agent stopped: {self.violation}"
        if self.exit_code is None or self.exit_code == 0:
            return None
        if self.exit_code < 0 or self.exit_code > 128:
            sig = -self.exit_code if self.exit_code < 0 else self.exit_code - 128
            return f"agent killed by signal {sig}"
        last = self.stderr_tail.strip().splitlines()[-1:] or ["no output"]
        return f"agent exited with code {self.exit_code}: {last[0][:300]}"


class Sandbox(Protocol):
    """Where a harness (or any agent script) runs, kept from what it must not reach.

    Lifecycle: sia builds a sandbox once per run (from `--sandbox NAME` and its
    `--sandbox-opt` options, through the plugin's SandboxSpec factory) and calls `run`
    once per job — per split shard, trial and rollout, from several threads at once when
    a run is parallel. A sandbox keeps no state between jobs that a job could see: each
    `run` stages a fresh copy of the public data and the script, runs it, copies back
    its outputs and removes everything it made before it returns (also when it raises).
    There is no separate start or close; a sandbox that holds machines (a remote pool)
    gives them back inside `run`.

    A sandbox that is not `shielded` says so: sia then records in every generation that
    keys, private data and the network were within the agent's reach.
    """

    name: str
    """The name `--sandbox` takes and the records show."""
    shielded: bool
    """False only for a sandbox that does not keep keys, private data and the network
    from the agent (`process`); sia then says so in every record."""

    def run(self, job: SandboxJob) -> SandboxResult:
        """Run `job.agent_file` on a copy of `job.dataset_dir` under the job's limits and
        copy what it wrote to `job.output_dir` (no link followed, reserved names
        dropped), with its stdout and stderr as target_agent_*.log beside it.

        What the agent does is never an exception: a non-zero exit, the wall clock, a
        broken limit or refused outputs come back in the SandboxResult (`exit_code`,
        `timed_out`, `violation`), and the run goes on.

        Raises:
            SandboxUnavailable: this machine or service cannot give the sandbox now (no
                bubblewrap, no namespaces, a remote box that would not start); the
                message (a SiaError's one line) says what to install or choose instead.
            OSError: the stage could not be written on this machine (a full disk).
        """
        ...
