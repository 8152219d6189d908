"""Trial runs for agent backends: a candidate harness on a few items, through the run's
sandbox and gateway, before the backend hands it over (`run_sample` in the agents'
tools). Labelled training rows are scored; a task without them gets its first inputs,
unscored."""

from __future__ import annotations

import itertools
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sia_core.backends.contract import (
    RequestsTrial,
    RowsProbe,
    RowsTrial,
    SelectionTrial,
    Trial,
    TrialReport,
)
from sia_core.envs import EnvError, python_for
from sia_core.execution.executor import Executor
from sia_core.execution.trajectories import read_calls
from sia_core.gateway.server import ITEM_HEADER
from sia_core.run_layout import RESERVED_NAMES, Salt, derived_seed
from sia_core.tasks.splits import rows_view, sample_view, training_view
from sia_core.tasks.task import Task, TaskError
from sia_core.usage import add_usage

TRIAL_MAX_ITEMS = 20
TRIAL_TIMEOUT_S = 600.0


def _stage(base: Path, agent_file: Path) -> tuple[Path | None, str]:
    """The harness (and its requirements.txt) copied into `base`: (its path, the Python
    of its environment), or (None, why the environment could not be made)."""
    base.mkdir(parents=True, exist_ok=True)
    agent = base / "target_agent.py"
    shutil.copy2(agent_file, agent)
    requirements = agent_file.parent / "requirements.txt"
    if requirements.is_file():
        shutil.copy2(requirements, base / "requirements.txt")
    try:
        return agent, python_for(base / "requirements.txt")
    except EnvError as exc:
        return None, str(exc)


@dataclass
class TrialRunner:
    executor: Executor
    selection: Task
    number: int
    gen_tmp: Path
    usage: dict[str, Any]
    """The generation's usage record; trials add theirs under "trials"."""
    adapter: Path | None = None
    """The adapter the child will be evaluated with (its parent's): every trial serves it,
    since weights trained by a child that was not kept may still be loaded."""

    def _serve(self) -> None:
        self.executor.serving.serve(self.adapter, self.executor.reporter)

    def as_trial(self) -> Trial:
        counter = itertools.count(1)
        lock = threading.Lock()

        def trial(agent_file: Path, items: int) -> TrialReport:
            with lock:  # one at a time: trials share the generation's budget and model
                base = self.gen_tmp / "trials" / f"trial_{next(counter)}"
                return self.run(base, agent_file, items)

        return trial

    def as_selection_trial(self) -> SelectionTrial:
        counter = itertools.count(1)
        lock = threading.Lock()

        def trial(agent_file: Path) -> TrialReport:
            with lock:
                base = self.gen_tmp / "trials" / f"selection_{next(counter)}"
                return self.on_selection(base, agent_file)

        return trial

    def as_rows_trial(self) -> RowsTrial:
        counter = itertools.count(1)
        lock = threading.Lock()

        def trial(agent_file: Path, ids: list[str]) -> dict[str, bool]:
            with lock:
                base = self.gen_tmp / "trials" / f"rows_{next(counter)}"
                return self.on_rows(base, agent_file, ids)

        return trial

    def as_requests_trial(self) -> RequestsTrial:
        counter = itertools.count(1)
        lock = threading.Lock()

        def trial(agent_file: Path, ids: list[str]) -> RowsProbe | None:
            with lock:
                base = self.gen_tmp / "trials" / f"requests_{next(counter)}"
                return self.on_requests(base, agent_file, ids)

        return trial

    def _rows_run(
        self, base: Path, agent_file: Path, ids: list[str], split: str
    ) -> RowsProbe | None:
        """Run a candidate harness on these training rows, carved out of its training
        file: its calls and each row's reward; None when the task has no labelled rows
        or the run failed."""
        task = self.executor.task
        if task.config.validation is None or self.selection is task or not ids:
            return None
        agent, python = _stage(base, agent_file)
        if agent is None:
            return None
        # A run resumed after a kill reuses the folder: the gateway appends to calls.jsonl,
        # and old calls would make the probe's digest match nothing.
        shutil.rmtree(base / "out", ignore_errors=True)
        self._serve()
        try:
            view = rows_view(task, self.selection, base / "view", set(ids))
        except TaskError:
            return None
        try:
            outcome = self.executor.run_split(
                self.number, split, view, agent, base / "out", python, None
            )
        finally:
            shutil.rmtree(base / "view", ignore_errors=True)
        add_usage(self.usage.setdefault("trials", {}), outcome.usage)
        if outcome.error is not None:
            return None
        return RowsProbe(
            read_calls(base / "out" / "calls.jsonl"),
            {str(item.id): float(item.reward) for item in outcome.evaluation.items},
        )

    def on_rows(self, base: Path, agent_file: Path, ids: list[str]) -> dict[str, bool]:
        """Which of these training rows a candidate harness answered right (the full
        reward, 1); {} when the task has no labelled rows or the run failed."""
        probe = self._rows_run(base, agent_file, ids, "demo rows")
        return {} if probe is None else {i: r >= 1.0 for i, r in probe.rewards.items()}

    def on_requests(self, base: Path, agent_file: Path, ids: list[str]) -> RowsProbe | None:
        """What a candidate harness sends the model on these training rows, and what
        each row scored (see `RequestsTrial`)."""
        return self._rows_run(base, agent_file, ids, "probe rows")

    def on_selection(self, base: Path, agent_file: Path) -> TrialReport:
        """Run a candidate harness on the whole selection split, scored as a generation's
        selection run is (the same view, sandbox, gateway and evaluator)."""
        agent, python = _stage(base, agent_file)
        if agent is None:
            return TrialReport(False, 0, None, False, 0.0, 0, None, {}, [], "", python)
        self._serve()
        outcome = self.executor.run_split(
            self.number, "trial", self.selection, agent, base, python, None
        )
        add_usage(self.usage.setdefault("trials", {}), outcome.usage)
        result, evaluation = outcome.sandbox, outcome.evaluation
        statuses: dict[str, int] = {}
        for item in evaluation.items:
            statuses[item.status] = statuses.get(item.status, 0) + 1
        return TrialReport(
            ok=outcome.error is None,
            items=len(evaluation.items),
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            duration_s=result.duration_s,
            calls=outcome.usage.get("calls", 0),
            score=evaluation.score if outcome.error is None else None,
            statuses=statuses,
            files=[],
            stdout_tail=result.stdout_tail,
            stderr_tail=result.stderr_tail,
            note=outcome.error or "",
        )

    def run(self, base: Path, agent_file: Path, items: int) -> TrialReport:
        """Run a candidate harness on a few items and say how it went."""
        ex, task = self.executor, self.executor.task
        items = max(1, min(int(items), TRIAL_MAX_ITEMS))
        agent, python = _stage(base, agent_file)
        if agent is None:
            return TrialReport(False, items, None, False, 0.0, 0, None, {}, [], "", python)
        view: Task | None = None
        note = ""
        if task.config.validation is not None and self.selection is not task:
            seed = derived_seed(ex.seed, self.number, Salt.TRIAL)
            view = training_view(task, self.selection, base / "view", items, seed)
            dataset = view.public_dir
        else:
            dataset = sample_view(task, base / "view", items)
            note = (
                "not scored: this task has no labelled training rows, so the sample is the "
                "first inputs of the task and only whether the harness runs is reported"
            )
        out = base / "out"
        self._serve()
        try:
            result, spent = ex.sandboxed(
                self.number,
                "trial",
                dataset,
                agent,
                out,
                python,
                items,
                (base / "view",),
                timeout_s=min(task.config.agent_timeout_s, TRIAL_TIMEOUT_S),
            )
            score, statuses = None, {}
            if view is not None:
                evaluation = ex.score(view, out, result)
                score = evaluation.score
                for item in evaluation.items:
                    statuses[item.status] = statuses.get(item.status, 0) + 1
                if evaluation.error:
                    note = f"evaluator: {evaluation.error}"
        finally:
            shutil.rmtree(base / "view", ignore_errors=True)
        add_usage(self.usage.setdefault("trials", {}), spent)
        untagged = sum(1 for call in read_calls(out / "calls.jsonl") if not call.get("item_id"))
        if untagged:
            note = (
                f"{untagged} model call(s) carried no item id: send the item's id in the "
                f"header {ITEM_HEADER} on every call. " + note
            ).strip()
        stderr = f"{result.reason}\n{result.stderr_tail}" if result.reason else result.stderr_tail
        return TrialReport(
            ok=result.reason is None,
            items=items,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            duration_s=result.duration_s,
            calls=spent["calls"],
            score=score,
            statuses=statuses,
            # The harness's own outputs: sia's records there are reserved names.
            files=sorted(
                p.name for p in out.iterdir() if p.is_file() and p.name not in RESERVED_NAMES
            ),
            stdout_tail=result.stdout_tail,
            stderr_tail=stderr,
            note=note,
        )
