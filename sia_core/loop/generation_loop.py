"""The generation loop: propose, run in the sandbox through the gateway, evaluate, select.

Generation n is built in a temporary directory and renamed to gen_n only when whole;
gen_n/generation.json is its record. `resume` removes partial directories and goes on
from the last whole generation. Selection uses the selection split (a carved validation
split when task.toml has one); the test split is run only for a new incumbent, and its
score is what the run reports.

This module holds the orchestration only: running a harness is `execution`, the task
model is `serving`, the weights lever is `weights.improve_weights`, the agents' trial
runs are `trials`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sia_core import plugins
from sia_core.backends.contract import (
    Backend,
    BackendCannotAct,
    Decision,
    FeedbackContext,
    MetaContext,
    NothingLeftToImprove,
)
from sia_core.envs import EnvError, python_for
from sia_core.errors import SiaError
from sia_core.execution.evaluation import MetricKeyError
from sia_core.execution.executor import Executor, sandbox_summary
from sia_core.execution.trajectories import item_rewards
from sia_core.execution.trials import TrialRunner
from sia_core.gateway.server import Budget
from sia_core.gateway.serving import TaskModel
from sia_core.loop import keep_rule
from sia_core.loop.record import GenerationRecord
from sia_core.loop.run_config import RunConfig, resolve_task, stored_config
from sia_core.loop.run_dir import (
    STAGING_PREFIX,
    RunDir,
    adopt_candidates,
    archive_parent,
    candidate_summary,
    derived_seed,
    generation_views,
    incumbent_of,
    index,
    initial_state,
    name_final_dir,
    rename_in_record,
)
from sia_core.progress import QuietReporter, Reporter
from sia_core.sandbox.bwrap import require_bwrap
from sia_core.store import atomic_dir, atomic_write_json, clean_partial, read_json
from sia_core.tasks.splits import selection_view
from sia_core.weights.lever import improve_weights
from sia_core.weights.shapes import ShapeReport


def make_executor(config: RunConfig, run_path: Path) -> Executor:
    """The task, sandbox, task model and gateway budget of a run's configuration: what
    runs a harness, for the loop and for `sia eval`."""
    task = resolve_task(config)
    if config.parallel > 1 and task.config.shards is None:
        raise SiaError(
            f"--parallel {config.parallel}: task {task.name!r} does not say how to cut its "
            "rows into shards; add a [parallel] section to its task.toml (docs/tasks.md), "
            "or drop --parallel"
        )
    sandbox = plugins.make_sandbox(config.sandbox, config.sandbox_options)
    serving = TaskModel(
        config.task_model or task.config.task_model,
        config.task_model_base,
        config.lora,
        config.seed,
        run_path / "sia.log",
        host=config.policy_host,
        host_options=config.policy_host_options,
        exact=config.exact,
    )
    if config.policy_host is not None:
        plugins.policy_host(config.policy_host)  # an unknown name: one line, before any work
    return Executor(
        task=task,
        sandbox=sandbox,
        serving=serving,
        budget=Budget(config.budget_tokens, config.budget_cost_usd),
        concurrency=config.concurrency,
        parallel=config.parallel,
        seed=config.seed,
        run_path=run_path,
        # The evaluator runs in bubblewrap whatever runs the agent (unless the user chose
        # an unshielded sandbox by name).
        bwrap=require_bwrap(config.sandbox_options.get("bwrap")) if sandbox.shielded else None,
    )


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
        self.backend: Backend = plugins.make_backend(config.backend, config.backend_options)
        self.classifier = plugins.reward_classifier(config.reward_classifier)
        self.executor = make_executor(config, self.rundir.path)
        self.task, self.sandbox = self.executor.task, self.executor.sandbox
        self.serving = self.executor.serving
        self.reporter = reporter or QuietReporter()

    @property
    def reporter(self) -> Reporter:
        return self.executor.reporter

    @reporter.setter
    def reporter(self, reporter: Reporter) -> None:
        self.executor.reporter = reporter

    @property
    def weights_available(self) -> bool:
        """An open-weight task model, and labelled public rows to train on."""
        return self.serving.local is not None and self.task.config.validation is not None

    # -- the run ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        rd = self.rundir
        rd.path.mkdir(parents=True, exist_ok=True)
        removed = rd.clean_partial()
        adopt_candidates(rd)
        if removed:
            self.reporter.info(f"removed {len(removed)} partial file(s) left by a killed run")
        self.selection = selection_view(self.task, rd.path / "views")
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
        rd.write(index(state, records, self.task.config.direction))
        try:
            try:
                for number in range(len(records) + 1, self.config.max_gen + 1):
                    records.append(self._generation(number, records))
                    rd.write(index(state, records, self.task.config.direction))
                state["status"] = "finished"
            except NothingLeftToImprove as exc:
                state.update(status="finished", stop_reason=str(exc))
                self.reporter.info(f"finished early: {exc}")
            except BackendCannotAct as exc:
                state.update(status="stopped", stop_reason=str(exc))
                self.reporter.info(f"stopped: {exc}")
            except MetricKeyError as exc:
                state.update(status="failed", stop_reason=str(exc))
                rd.write(index(state, records, self.task.config.direction))
                raise
            except BaseException:
                state.update(
                    status="interrupted", stop_reason="interrupted; continue with --resume"
                )
                rd.write(index(state, records, self.task.config.direction))
                raise
            state["pid"] = None
            rd.write(index(state, records, self.task.config.direction))
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
        seed = derived_seed(self.config.seed, number, 13)
        return archive_parent(records, self.task.config.direction, seed) or fallback

    def _propose(
        self,
        number: int,
        out: Path,
        records: list[GenerationRecord],
        usage: dict[str, Any],
        parent_record: GenerationRecord | None,
        candidate: int = 1,
        siblings: list[Decision] | None = None,
    ) -> Decision:
        trial = TrialRunner(self.executor, self.selection, number, out, usage).as_trial()
        if number == 1:
            ctx = MetaContext(
                task=self.task,
                out_dir=out,
                meta_model=self.config.meta_model,
                task_model=self.serving.name,
                trial=trial,
            )
            return self.backend.initial(ctx)
        views = generation_views(self.rundir, records)
        parent = views[records.index(parent_record)] if parent_record else views[-1]
        if (parent.dir / "target_agent.py").is_file():
            shutil.copy2(parent.dir / "target_agent.py", out / "target_agent.py")
        if (parent.dir / "requirements.txt").is_file():
            shutil.copy2(parent.dir / "requirements.txt", out / "requirements.txt")
        # The rewards of the generation the next one builds on: a failed latest
        # generation has none, and its parent's are what training would start from.
        shape = next(r for r in records if r.number == parent.number).reward_shape
        ctx = FeedbackContext(
            task=self.task,
            out_dir=out,
            number=number,
            history=views,
            parent=parent,
            reward_report=ShapeReport(**shape) if shape else None,
            algorithms=[spec.info for spec in plugins.rl_algorithms()],
            algorithm_configs={spec.name: spec.config for spec in plugins.rl_algorithms()},
            weights_available=self.weights_available,
            meta_model=self.config.meta_model,
            task_model=self.serving.name,
            trial=trial,
            candidate=candidate,
            candidates=self.config.candidates,
            siblings=list(siblings or []),
            run_dir=self.rundir.path,
            selection=self.selection,
            seed=self.config.seed,
        )
        # The evidence the Feedback-Agent decided from, kept with the generation.
        atomic_write_json(
            out / "feedback_context.json",
            {
                "parent": parent.number,
                "reward_shape": shape,
                "algorithms": [asdict(info) for info in ctx.algorithms],
                "weights_available": ctx.weights_available,
                "candidate": candidate,
                "siblings": [d.as_dict() for d in ctx.siblings],
            },
        )
        return self.backend.feedback(ctx)

    def _generation(self, number: int, records: list[GenerationRecord]) -> GenerationRecord:
        self.reporter.info(f"generation {number}")
        parent = self._parent(number, records)
        final = self.rundir.gen_dir(number)
        # Generation 1 has no parent to make several children of: it is one harness.
        if self.config.candidates <= 1 or number == 1:
            with atomic_dir(final) as tmp:
                record = self._candidate(number, tmp, records, parent)
                if record.status == "ok":
                    self._keep(record, tmp, records)
                record.finished = time.time()
                # Messages name the generation as it will be found, not its temporary dir.
                record = name_final_dir(record, tmp, final)
                atomic_write_json(tmp / "generation.json", record.as_dict())
            self._say(record)
            return record
        # Each finished candidate is kept whole outside the generation's temporary
        # directory, so a killed run resumes after the last finished one.
        staging = self.rundir.path / f"{STAGING_PREFIX}{number}"
        clean_partial(staging)
        done: list[GenerationRecord] = []
        for k in range(1, self.config.candidates + 1):
            kept_dir = staging / str(k)
            if (kept_dir / "generation.json").is_file():
                done.append(GenerationRecord.from_dict(read_json(kept_dir / "generation.json")))
                continue
            self.reporter.info(f"generation {number} · candidate {k}/{self.config.candidates}")
            siblings = [Decision.from_dict(r.decision) for r in done if r.decision]
            with atomic_dir(kept_dir) as tmp:
                try:
                    record = self._candidate(number, tmp, records, parent, k, siblings)
                except BackendCannotAct as exc:
                    if k == 1:
                        raise
                    record = GenerationRecord(number=number, started=time.time())
                    record.error = f"candidate {k}: {exc}"
                record.candidate = k
                record.finished = time.time()
                record = name_final_dir(record, tmp, final / "candidates" / str(k))
                atomic_write_json(tmp / "generation.json", record.as_dict())
            done.append(record)
            self._say(record, f"generation {number} · candidate {k}")
        record = self._choose(number, done, staging, records)
        self._say(record)
        return record

    def _choose(
        self,
        number: int,
        done: list[GenerationRecord],
        staging: Path,
        records: list[GenerationRecord],
    ) -> GenerationRecord:
        """gen_N from the best candidate (its files copied up, every candidate under
        candidates/), then the keep rule against the incumbent."""
        final = self.rundir.gen_dir(number)
        scored = [r for r in done if r.status == "ok" and r.score is not None]
        best = None
        for r in scored:
            if best is None or self.task.better(r.score, best.score):  # type: ignore[arg-type]
                best = r
        with atomic_dir(final) as tmp:
            if best is None:
                record = GenerationRecord(number=number, started=done[0].started)
                record.error = "every candidate failed: " + "; ".join(
                    f"{r.candidate}: {r.error}" for r in done
                )
                record.parent = done[0].parent
            else:
                chosen = staging / str(best.candidate)
                for entry in chosen.iterdir():
                    if entry.name == "generation.json":
                        continue
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.copytree(entry, tmp / entry.name, symlinks=True)
                    else:
                        shutil.copy2(entry, tmp / entry.name, follow_symlinks=False)
                old = str(final / "candidates" / str(best.candidate))
                record = rename_in_record(best, tmp, old, str(tmp))
                if record.adapter_gen == number:
                    # Candidates after the chosen one trained adapters of their own.
                    self.serving.serve(tmp / "adapter", self.reporter)
                self._keep(record, tmp, records)
            record.candidates = [candidate_summary(r) for r in done]
            # What every other candidate spent counts too (run.json's totals, the report).
            sessions = []
            for other in done:
                if best is None or other.candidate != best.candidate:
                    for usage in other.usage.values():
                        record.add_usage("candidates", usage)
                sessions += [
                    {**s, "candidate": other.candidate}
                    for s in other.agent_sessions or []
                    if isinstance(s, dict)
                ]
            record.agent_sessions = sessions or None
            record.finished = time.time()
            record = name_final_dir(record, tmp, final)
            atomic_write_json(tmp / "generation.json", record.as_dict())
        # Moved in only once gen_N is whole: a kill before this leaves the candidates in
        # staging, and the next start moves them (adopt_candidates).
        adopt_candidates(self.rundir)
        return record

    def _candidate(
        self,
        number: int,
        tmp: Path,
        records: list[GenerationRecord],
        parent: GenerationRecord | None,
        candidate: int = 1,
        siblings: list[Decision] | None = None,
    ) -> GenerationRecord:
        """Propose one child into `tmp` and score it on the selection split."""
        record = GenerationRecord(number=number, started=time.time())
        record.parent = parent.number if parent and number > 1 else None
        if siblings is not None:
            record.candidate = candidate  # one of several: its rollouts may be shared
        try:
            decision = self._propose(
                number, tmp, records, record.usage, parent, candidate, siblings
            )
        except BackendCannotAct:
            raise
        except Exception as exc:  # a backend's fault fails this generation, not the run
            decision = None
            record.error = f"backend {self.config.backend!r} failed: {exc}"[:1000]
        # Agent backends leave the usage of their sessions.
        session_file = tmp / "agent_session.json"
        if session_file.is_file():
            with contextlib.suppress(ValueError):
                record.agent_sessions = json.loads(session_file.read_text("utf-8"))
        if decision is not None:
            record.decision = decision.as_dict()
            record.lever, record.algorithm = decision.lever, decision.algorithm
            atomic_write_json(tmp / "decision.json", decision.as_dict())
            self._evaluate(record, tmp, decision, records, parent)
        return record

    def _evaluate(
        self,
        record: GenerationRecord,
        tmp: Path,
        decision: Decision,
        records: list[GenerationRecord],
        parent: GenerationRecord | None,
    ) -> None:
        """Train (weights lever) and run on the selection split."""
        number = record.number
        record.adapter_gen = parent.adapter_gen if parent else None
        agent = tmp / "target_agent.py"
        if not agent.is_file():
            record.error = "the backend wrote no target_agent.py"
            return
        try:
            python = python_for(tmp / "requirements.txt")
        except EnvError as exc:
            record.error = str(exc)
            return
        adapter = (
            self.rundir.gen_dir(record.adapter_gen) / "adapter" if record.adapter_gen else None
        )
        self.serving.serve(adapter, self.reporter)
        if decision.lever != "harness":
            try:
                improve_weights(self.executor, self.selection, tmp, decision, agent, python, record)
            except SiaError as exc:
                record.error = f"weights lever: {exc}"
                return
        expected = records[-1].items if records else None
        selection = self.executor.run_split(
            number, "selection", self.selection, agent, tmp, python, expected
        )
        record.usage["selection"] = selection.usage
        record.agent = sandbox_summary(selection.sandbox)
        evaluation = selection.evaluation
        if selection.error:
            # A crashed or stopped agent fails its generation even when the evaluator could
            # score what it left behind; that partial score is kept for the record only.
            record.error, record.partial_score = selection.error, evaluation.score
            return
        record.status, record.score = "ok", evaluation.score
        record.items, record.summary = len(evaluation.items), evaluation.summary
        algorithms = [spec.info for spec in plugins.rl_algorithms()]
        record.reward_shape = self.classifier.classify(evaluation.rewards, algorithms).as_dict()

    def _keep(self, record: GenerationRecord, tmp: Path, records: list[GenerationRecord]) -> None:
        """The keep rule against the incumbent; a kept generation runs on test."""
        incumbent = incumbent_of(records)
        verdict = keep_rule.decide(
            self.config.keep_rule,
            item_rewards(tmp),
            item_rewards(self.rundir.gen_dir(incumbent.number)) if incumbent else None,
            record.score,
            incumbent.score if incumbent else None,
            self.task.config.direction,
            seed=derived_seed(self.config.seed, record.number, 11),
        )
        record.keep = verdict.as_dict()
        if not verdict.kept:
            return
        record.incumbent = True
        if self.selection is self.task:
            record.test_score = record.score
            return
        try:
            python = python_for(tmp / "requirements.txt")
        except EnvError as exc:
            record.test_error = str(exc)
            return
        agent = tmp / "target_agent.py"
        test = self.executor.run_split(
            record.number, "test", self.task, agent, tmp / "test", python, None
        )
        record.usage["test"] = test.usage
        record.test_score = test.evaluation.score
        if test.evaluation.score is None:
            record.test_error = test.error

    def _say(self, record: GenerationRecord, name: str | None = None) -> None:
        name = name or f"generation {record.number}"
        if record.status == "ok":
            mark = " (new incumbent)" if record.incumbent else ""
            keep = record.keep or {}
            if keep.get("difference") is not None and not record.incumbent:
                mark = f" (not kept: {keep.get('reason')})"
            self.reporter.info(f"{name}: {self.task.config.metric} {record.score:.4f}{mark}")
        else:
            self.reporter.info(f"{name} failed: {record.error}")
