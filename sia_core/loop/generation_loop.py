"""The generation loop: propose, run in the sandbox through the gateway, evaluate, select.

Generation n is built in a temporary directory and renamed to gen_n only when whole;
gen_n/generation.json is its record. `resume` removes partial directories and goes on
from the last whole generation. Selection uses the selection split (a carved validation
split when task.toml has one); the test split is run only for a new incumbent, and its
score is what the run reports.

This module holds the orchestration only: one child's steps (propose -> evaluate ->
keep) are `loop.steps`, a generation of several candidates is `loop.staging`, what a run
is wired from is `loop.wiring`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sia_core import plugins
from sia_core.backends.contract import BackendCannotAct, NothingLeftToImprove
from sia_core.errors import SiaError
from sia_core.execution.evaluation import MetricKeyError
from sia_core.execution.executor import Executor
from sia_core.generation_record import GenerationRecord
from sia_core.loop import staging, steps
from sia_core.loop.run_config import RunConfig
from sia_core.loop.run_dir import (
    RunDir,
    archive_parent,
    incumbent_of,
    index,
    initial_state,
)
from sia_core.loop.wiring import (
    Wiring,
    make_executor,
    require_reachable,
    resolve_task,
    stored_config,
)
from sia_core.progress import QuietReporter, Reporter
from sia_core.run_layout import Salt, derived_seed, record_path
from sia_core.store import atomic_dir, atomic_write_json
from sia_core.tasks.check import cheap_checks
from sia_core.tasks.splits import selection_view

__all__ = ["Loop", "RunConfig", "make_executor", "resolve_task"]


class Loop:
    def __init__(
        self,
        config: RunConfig,
        reporter: Reporter | None = None,
        resume: bool = False,
        explicit: Collection[str] = (),
    ) -> None:
        """`explicit`: the fields of `config` the user set; on resume they must agree
        with the stored configuration."""
        if config.run_id is None:
            config.run_id = time.strftime("%Y%m%d-%H%M%S")
        self.rundir = RunDir.named(Path(config.runs_dir), config.run_id)
        if resume:
            config = stored_config(self.rundir, config, explicit)
        elif self.rundir.path.exists():
            raise SiaError(
                f"run {config.run_id!r} already exists at {self.rundir.path}; "
                "add --resume to continue it, or choose another --run-id"
            )
        self.config = config
        executor = make_executor(config, self.rundir.path)
        # The checks of `sia task check` that only read files, before any agent runs.
        problems = [f for f in cheap_checks(executor.task.root) if not f.ok]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise SiaError(
                f"task {executor.task.name!r}: {problems[0].check}: {problems[0].message}"
                f"{more}; `sia task check {executor.task.root}` lists every problem"
            )
        require_reachable(executor)
        self.wiring = Wiring(
            config=config,
            rundir=self.rundir,
            backend=plugins.make_backend(config.backend, config.backend_options),
            classifier=plugins.reward_classifier(config.reward_classifier),
            executor=executor,
            selection=executor.task,
        )
        self.task, self.sandbox = executor.task, executor.sandbox
        self.serving = executor.serving
        self.reporter = reporter or QuietReporter()

    @property
    def reporter(self) -> Reporter:
        return self.wiring.executor.reporter

    @reporter.setter
    def reporter(self, reporter: Reporter) -> None:
        self.wiring.executor.reporter = reporter

    @property
    def executor(self) -> Executor:
        return self.wiring.executor

    # -- the run ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        rd = self.rundir
        rd.path.mkdir(parents=True, exist_ok=True)
        removed = rd.clean_partial()
        staging.adopt_candidates(rd)
        if removed:
            self.reporter.info(f"removed {len(removed)} partial file(s) left by a killed run")
        self.wiring.selection = selection_view(self.task, rd.path / "views")
        if not self.sandbox.shielded:
            self.reporter.info(
                f"warning: sandbox {self.sandbox.name!r} is NOT SHIELDED: the agent can read "
                "sia's environment (provider keys), the private data and the network"
            )
        state = (
            rd.read()
            if rd.exists()
            else initial_state(self.config.run_id or "", self.task, self.config.seed, self.serving)
        )
        state.update(status="running", pid=os.getpid(), stop_reason=None)
        state["config"] = asdict(self.config)
        records = rd.records()
        direction = self.task.config.direction
        rd.write(index(state, records, direction))
        try:
            try:
                for number in range(len(records) + 1, self.config.max_gen + 1):
                    why = steps.out_of_reach(self.wiring, records)
                    if why is not None:
                        raise NothingLeftToImprove(why)
                    records.append(self._generation(number, records))
                    rd.write(index(state, records, direction))
                state["status"] = "finished"
            except NothingLeftToImprove as exc:
                state.update(status="finished", stop_reason=str(exc))
                self.reporter.info(f"finished early: {exc}")
            except BackendCannotAct as exc:
                state.update(status="stopped", stop_reason=str(exc))
                self.reporter.info(f"stopped: {exc}")
            except MetricKeyError as exc:
                state.update(status="failed", stop_reason=str(exc))
                rd.write(index(state, records, direction))
                raise
            except BaseException:
                state.update(
                    status="interrupted", stop_reason="interrupted; continue with --resume"
                )
                rd.write(index(state, records, direction))
                raise
            state["pid"] = None
            rd.write(index(state, records, direction))
            return state
        finally:
            self.serving.close()  # a policy host's worker stops with the run

    # -- one generation ---------------------------------------------------------------

    def _parent(self, number: int, records: list[GenerationRecord]) -> GenerationRecord | None:
        """The generation the next one is made from: the incumbent, or with `--parent
        archive` one sampled from every scored generation, weighted by selection rank."""
        fallback = incumbent_of(records) or (records[-1] if records else None)
        if self.config.parent != "archive":
            return fallback
        seed = derived_seed(self.config.seed, number, Salt.ARCHIVE_PARENT)
        return archive_parent(records, self.task.config.direction, seed) or fallback

    def _generation(self, number: int, records: list[GenerationRecord]) -> GenerationRecord:
        parent = self._parent(number, records)
        # Generation 1 has no parent to make several children of: it is one harness.
        if self.config.candidates > 1 and number > 1:
            record = staging.candidates(self.wiring, number, records, parent, self._say)
        else:
            with atomic_dir(self.rundir.gen_dir(number)) as tmp:
                record, _ = steps.child(
                    self.wiring, number, tmp, records, parent,
                    announce=lambda: self.reporter.info(f"generation {number}"),
                )  # fmt: skip
                atomic_write_json(record_path(tmp), record.as_dict())
        self._say(record)
        return record

    def _say(self, record: GenerationRecord, name: str | None = None) -> None:
        name = name or f"generation {record.number}"
        if record.status == "ok":
            mark = " (new incumbent)" if record.incumbent else ""
            keep = record.keep or {}
            if keep.get("difference") is not None and not record.incumbent:
                mark = f" (not kept: {keep.get('reason')})"
            calls = record.model_calls().text()
            calls = f"; {calls}" if calls else ""
            self.reporter.info(f"{name}: {self.task.config.metric} {record.score:.4f}{mark}{calls}")
        else:
            self.reporter.info(f"{name} failed: {record.error}")
