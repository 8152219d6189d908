"""The generation loop: propose, run in the sandbox through the gateway, evaluate, select.

Generation n is built in a temporary directory and renamed to gen_n only when whole;
gen_n/generation.json is its record. `resume` removes partial directories and goes on
from the last whole generation. Selection uses the selection split (a carved validation
split when task.toml has one); the test split is run only for a new incumbent, and its
score is what the run reports.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core import plugins
from sia_core.backend_api import (
    Backend,
    BackendCannotAct,
    Decision,
    FeedbackContext,
    GenerationView,
    MetaContext,
    NothingLeftToImprove,
    Trial,
    TrialReport,
)
from sia_core.console_log import third_party_to
from sia_core.envs import EnvError, python_for
from sia_core.errors import SiaError
from sia_core.evaluation import Evaluation, MetricKeyError, run_evaluator
from sia_core.gateway import ITEM_HEADER, Budget, Gateway, add_usage
from sia_core.models import ChatModel, LiteLLMModel
from sia_core.options import OptionError
from sia_core.policy.registry import is_local_model
from sia_core.progress import QuietReporter, Reporter
from sia_core.reward_shape import ShapeReport
from sia_core.runs import RESERVED_NAMES, RunDir, index
from sia_core.sandbox.api import Sandbox, SandboxJob, SandboxResult
from sia_core.sandbox.bwrap import require_bwrap
from sia_core.splits import sample_view, selection_view, training_view
from sia_core.store import atomic_dir, atomic_write_json, atomic_write_text
from sia_core.task import Task, load_task_dir
from sia_core.trajectories import read_calls, write_agent_execution
from sia_core.weights import build_batch, describe, plan_for, save_adapter, train_adapter

if TYPE_CHECKING:
    from sia_core.policy.local import LocalPolicy

TRIAL_MAX_ITEMS = 20
TRIAL_TIMEOUT_S = 600.0


@dataclass
class RunConfig:
    task: str | None = None
    task_dir: str | None = None
    max_gen: int = 3
    run_id: str | None = None
    backend: str = "heuristic"
    backend_options: dict[str, str] = field(default_factory=dict)
    meta_model: str | None = None
    task_model: str | None = None
    task_model_base: str | None = None
    sandbox: str = "local"
    runs_dir: str = "runs"
    seed: int = 0
    budget_tokens: int | None = None
    budget_cost_usd: float | None = None
    concurrency: int = 32
    reward_classifier: str = "stats"
    sandbox_options: dict[str, str] = field(default_factory=dict)
    """`--sandbox-opt KEY=VALUE` pairs, passed to the sandbox's factory."""
    lora: dict[str, Any] = field(default_factory=dict)
    """Overrides of LoraSettings: rank, alpha, target_modules, learning_rate."""


def resolve_task(config: RunConfig) -> Task:
    if config.task_dir:
        return load_task_dir(Path(config.task_dir))
    if not config.task:
        raise SiaError("name a task: --task NAME or --task-dir PATH")
    for loader in plugins.task_loaders():
        path = loader.resolve(config.task)
        if path is not None:
            return load_task_dir(path)
    known = sorted(info.name for loader in plugins.task_loaders() for info in loader.list_tasks())
    raise SiaError(
        f"no task {config.task!r}; known tasks: {', '.join(known) or 'none'} "
        "(`sia tasks` lists them); or pass --task-dir PATH"
    )


@dataclass
class SplitOutcome:
    sandbox: SandboxResult
    evaluation: Evaluation
    usage: dict[str, Any]


class Loop:
    def __init__(
        self, config: RunConfig, reporter: Reporter | None = None, resume: bool = False
    ) -> None:
        self.reporter = reporter or QuietReporter()
        if config.run_id is None:
            config.run_id = time.strftime("%Y%m%d-%H%M%S")
        self.rundir = RunDir.named(Path(config.runs_dir), config.run_id)
        if resume:
            config = self._stored_config(config)
        elif self.rundir.path.exists():
            raise SiaError(
                f"run {config.run_id!r} already exists at {self.rundir.path}; "
                "add --resume to continue it, or choose another --run-id"
            )
        self.config = config
        self.task = resolve_task(config)
        self.backend: Backend = plugins.backend(config.backend).factory(config.backend_options)
        self.sandbox: Sandbox = plugins.sandbox(config.sandbox).factory(config.sandbox_options)
        # The evaluator runs in bubblewrap whatever runs the agent (unless the user chose
        # an unshielded sandbox by name).
        self.bwrap = (
            require_bwrap(config.sandbox_options.get("bwrap")) if self.sandbox.shielded else None
        )
        self.classifier = plugins.reward_classifier(config.reward_classifier)
        model_name = config.task_model or self.task.config.task_model
        self.model_name = model_name
        self.local_model = model_name if model_name and is_local_model(model_name) else None
        self.policy: LocalPolicy | None = None  # loaded on first use: it is heavy
        self.model: ChatModel | None = (
            LiteLLMModel(model_name, api_base=config.task_model_base)
            if model_name and not self.local_model
            else None
        )
        self.budget = Budget(config.budget_tokens, config.budget_cost_usd)

    @property
    def weights_available(self) -> bool:
        """An open-weight task model, and labelled public rows to train on."""
        return self.local_model is not None and self.task.config.validation is not None

    def _serve(self, adapter: Path | None) -> None:
        """Make the task model the local policy with `adapter`, loading it if needed."""
        if self.local_model is None:
            return
        if self.policy is None:
            try:
                import torch

                from sia_core.policy.local import LocalPolicy, lora_settings
            except ImportError as exc:
                raise SiaError(
                    f"the open-weight task model {self.local_model} needs the local extra "
                    f"({exc.name} is missing): install torch, then pip install 'sia-core[local]'"
                ) from None

            # Seeded, but not bit-reproducible: which calls share a sampling batch
            # depends on the timing of the agent's threads.
            torch.manual_seed(self.config.seed)
            with (
                self.reporter.phase(f"loading task model {self.local_model}"),
                third_party_to(self.rundir.path / "sia.log"),
            ):
                self.policy = LocalPolicy.load(
                    self.local_model, adapter, lora=lora_settings(self.config.lora)
                )
            self.model = self.policy
        elif self.policy.adapter != adapter:
            self.policy.use_adapter(adapter)

    def _adapter(self, gen: int | None) -> Path | None:
        return self.rundir.gen_dir(gen) / "adapter" if gen else None

    def _stored_config(self, given: RunConfig) -> RunConfig:
        if not self.rundir.exists():
            raise SiaError(
                f"nothing to resume: {self.rundir.path} has no run.json; drop --resume to start it"
            )
        state = self.rundir.read()
        pid = state.get("pid")
        if state.get("status") == "running" and pid and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 0)
                raise SiaError(
                    f"run {given.run_id!r} is still running (pid {pid}); stop it before resuming"
                )
        stored = RunConfig(**state["config"])
        # Only the generation count may change on resume: to extend a finished run.
        stored.max_gen = given.max_gen or stored.max_gen
        return stored

    # -- the run ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        rd = self.rundir
        rd.path.mkdir(parents=True, exist_ok=True)
        removed = rd.clean_partial()
        if removed:
            self.reporter.info(f"removed {len(removed)} partial file(s) left by a killed run")
        self.selection = selection_view(self.task, rd.path / "views")
        if not self.sandbox.shielded:
            self.reporter.info(
                f"warning: sandbox {self.sandbox.name!r} is NOT SHIELDED: the agent can read "
                "sia's environment (provider keys), the private data and the network"
            )
        state = rd.read() if rd.exists() else self._initial_state()
        state.update(status="running", pid=os.getpid(), stop_reason=None)
        state["config"] = asdict(self.config)
        records = rd.records()
        rd.write(index(state, records, self.task.config.direction))
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
            state.update(status="interrupted", stop_reason="interrupted; continue with --resume")
            rd.write(index(state, records, self.task.config.direction))
            raise
        state["pid"] = None
        rd.write(index(state, records, self.task.config.direction))
        return state

    def _initial_state(self) -> dict[str, Any]:
        split = self.task.config.validation
        if split is None:
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
            "run_id": self.config.run_id,
            "created": time.time(),
            "task": {
                "name": self.task.name,
                "root": str(self.task.root),
                "metric": self.task.config.metric,
                "direction": self.task.config.direction,
                "selection": selection,
                "held_out": split is not None,
            },
            "seeds": {"run": self.config.seed},
            "task_model": {"name": self.model_name, "local": self.local_model is not None},
        }

    # -- one generation ---------------------------------------------------------------

    def _views(self, records: list[dict[str, Any]]) -> list[GenerationView]:
        return [
            GenerationView(
                number=r["number"],
                dir=self.rundir.gen_dir(r["number"]),
                status=r["status"],
                score=r.get("score"),
                error=r.get("error"),
                decision=r.get("decision"),
            )
            for r in records
        ]

    def _propose(
        self, number: int, out: Path, records: list[dict[str, Any]], usage: dict[str, Any]
    ) -> Decision:
        trial = self._trial_runner(number, out, usage)
        if number == 1:
            ctx = MetaContext(
                task=self.task,
                out_dir=out,
                meta_model=self.config.meta_model,
                task_model=self.model_name,
                trial=trial,
            )
            return self.backend.initial(ctx)
        views = self._views(records)
        incumbent = incumbent_of(records)
        parent = views[records.index(incumbent)] if incumbent else views[-1]
        if (parent.dir / "target_agent.py").is_file():
            shutil.copy2(parent.dir / "target_agent.py", out / "target_agent.py")
        if (parent.dir / "requirements.txt").is_file():
            shutil.copy2(parent.dir / "requirements.txt", out / "requirements.txt")
        # The rewards of the generation the next one builds on: a failed latest
        # generation has none, and its parent's are what training would start from.
        shape = next(r for r in records if r["number"] == parent.number).get("reward_shape")
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
            task_model=self.model_name,
            trial=trial,
        )
        # The evidence the Feedback-Agent decided from, kept with the generation.
        atomic_write_json(
            out / "feedback_context.json",
            {
                "parent": parent.number,
                "reward_shape": shape,
                "algorithms": [asdict(info) for info in ctx.algorithms],
                "weights_available": ctx.weights_available,
            },
        )
        return self.backend.feedback(ctx)

    def _generation(self, number: int, records: list[dict[str, Any]]) -> dict[str, Any]:
        self.reporter.info(f"generation {number}")
        incumbent = incumbent_of(records)
        incumbent_score = incumbent["score"] if incumbent else None
        record: dict[str, Any] = {
            "number": number,
            "started": time.time(),
            "status": "failed",
            "score": None,
            "test_score": None,
            "incumbent": False,
            "usage": {},
        }
        with atomic_dir(self.rundir.gen_dir(number)) as tmp:
            try:
                decision = self._propose(number, tmp, records, record["usage"])
            except BackendCannotAct:
                raise
            except Exception as exc:  # a backend's fault fails this generation, not the run
                decision = None
                record["error"] = f"backend {self.config.backend!r} failed: {exc}"[:1000]
            # Agent backends leave the usage of their sessions.
            session_file = tmp / "agent_session.json"
            if session_file.is_file():
                with contextlib.suppress(ValueError):
                    record["agent_sessions"] = json.loads(session_file.read_text("utf-8"))
            if decision is not None:
                record.update(
                    decision=decision.as_dict(), lever=decision.lever, algorithm=decision.algorithm
                )
                atomic_write_json(tmp / "decision.json", decision.as_dict())
                self._evaluate(number, tmp, decision, record, records, incumbent_score)
            record["finished"] = time.time()
            # Messages name the generation as it will be found, not its temporary dir.
            record = name_final_dir(record, tmp, self.rundir.gen_dir(number))
            atomic_write_json(tmp / "generation.json", record)
        self._say(record)
        return record

    def _evaluate(
        self,
        number: int,
        tmp: Path,
        decision: Decision,
        record: dict[str, Any],
        records: list[dict[str, Any]],
        incumbent_score: float | None,
    ) -> None:
        parent = incumbent_of(records)
        record["adapter_gen"] = parent.get("adapter_gen") if parent else None
        agent = tmp / "target_agent.py"
        if not agent.is_file():
            record["error"] = "the backend wrote no target_agent.py"
            return
        try:
            python = python_for(tmp / "requirements.txt")
        except EnvError as exc:
            record["error"] = str(exc)
            return
        self._serve(self._adapter(record["adapter_gen"]))
        if decision.lever != "harness":
            try:
                self._improve_weights(number, tmp, decision, agent, python, record)
            except SiaError as exc:
                record["error"] = f"weights lever: {exc}"
                return
        expected = records[-1].get("items") if records else None
        selection = self._run_split(
            number, "selection", self.selection, agent, tmp, python, expected
        )
        record["usage"]["selection"] = selection.usage
        record["agent"] = _sandbox_summary(selection.sandbox)
        evaluation = selection.evaluation
        if selection.sandbox.reason or evaluation.score is None:
            # A crashed or stopped agent fails its generation even when the evaluator could
            # score what it left behind; that partial score is kept for the record only.
            record["error"] = "; ".join(
                x
                for x in (
                    selection.sandbox.reason,
                    evaluation.error,
                    provider_key_hint(selection.sandbox),
                )
                if x
            )
            record["partial_score"] = evaluation.score
            return
        record.update(
            status="ok",
            score=evaluation.score,
            items=len(evaluation.items),
            summary=evaluation.summary,
        )
        algorithms = [spec.info for spec in plugins.rl_algorithms()]
        record["reward_shape"] = self.classifier.classify(evaluation.rewards, algorithms).as_dict()
        if not self.task.better(evaluation.score, incumbent_score):
            return
        record["incumbent"] = True
        if self.selection is self.task:
            record["test_score"] = evaluation.score
            return
        test = self._run_split(number, "test", self.task, agent, tmp / "test", python, None)
        record["usage"]["test"] = test.usage
        record["test_score"] = test.evaluation.score
        if test.evaluation.score is None:
            record["test_error"] = "; ".join(
                x for x in (test.sandbox.reason, test.evaluation.error) if x
            )

    def _improve_weights(
        self,
        number: int,
        tmp: Path,
        decision: Decision,
        agent: Path,
        python: str,
        record: dict[str, Any],
    ) -> None:
        spec = plugins.rl_algorithm(decision.algorithm or "")
        if not self.weights_available or self.policy is None:
            raise SiaError(
                "the task model is not an open-weight model served by the local "
                "policy, or the task has no labelled rows to train on"
            )
        try:
            checked = plan_for(decision.hyperparameters, spec.name, spec.config)
        except OptionError as exc:
            raise SiaError(f"decision: {exc}") from None
        plan, algo_config = checked.rollout, checked.config
        rounds = []
        extra_files: dict[str, bytes] = {}
        for round_no in range(plan.rounds):
            base = tmp / "rollouts" / f"round_{round_no}"
            seed = self.config.seed * 1_000_003 + number * 101 + round_no
            view = training_view(self.task, self.selection, base / "view", plan.items, seed)

            def rollout(j: int, view: Task = view, base: Path = base, r: int = round_no) -> Any:
                return self._run_split(
                    number, f"rollout {r + 1}.{j + 1}", view, agent, base / f"run_{j}", python, None
                )

            with (
                self.policy.sampling({"temperature": plan.temperature}),
                ThreadPoolExecutor(plan.k) as pool,
            ):
                runs = list(pool.map(rollout, range(plan.k)))
            batch = build_batch(
                [(base / f"run_{j}" / "calls.jsonl", run.evaluation) for j, run in enumerate(runs)]
            )
            label = f"gen {number} · training {spec.name} (round {round_no + 1}/{plan.rounds})"
            with self.reporter.phase(label), third_party_to(self.rundir.path / "sia.log"):
                metrics, extra_files = train_adapter(spec, batch, self.policy, algo_config, seed)
            summary = describe(batch)
            rounds.append({"batch": summary, "metrics": metrics})
            for run in runs:
                add_usage(record["usage"].setdefault("rollouts", {}), run.usage)
            self.reporter.info(
                f"gen {number}: {spec.name} round {round_no + 1}: "
                f"{summary['samples']} samples, rollout mean reward "
                f"{summary['mean_reward']:.3f}"
            )
        training = {
            "algorithm": spec.name,
            "plan": asdict(plan),
            "config": algo_config,
            "started_from_gen": record["adapter_gen"],
            "rounds": rounds,
        }
        save_adapter(self.policy, tmp / "adapter", training, extra_files)
        record.update(adapter_gen=number, training=training)

    def _run_split(
        self,
        number: int,
        split: str,
        view: Task,
        agent: Path,
        out: Path,
        python: str,
        expected: int | None,
    ) -> SplitOutcome:
        result, usage = self._sandboxed(
            number, split, view.public_dir, agent, out, python, expected, (view.root,)
        )
        with self.reporter.phase(f"gen {number} · {split} · evaluating"):
            evaluation = self._score(view, out, result)
        write_agent_execution(out, result, evaluation)
        return SplitOutcome(sandbox=result, evaluation=evaluation, usage=usage)

    def _sandboxed(
        self,
        number: int,
        split: str,
        dataset: Path,
        agent: Path,
        out: Path,
        python: str,
        expected: int | None,
        hide: tuple[Path, ...],
        timeout_s: float | None = None,
    ) -> tuple[SandboxResult, dict[str, Any]]:
        out.mkdir(parents=True, exist_ok=True)
        limits = self.task.config
        hidden = tuple({self.task.root, self.rundir.path, *hide})
        with Gateway(
            self.model, out / "calls.jsonl", budget=self.budget, concurrency=self.config.concurrency
        ) as gateway:
            job = SandboxJob(
                agent_file=agent,
                dataset_dir=dataset,
                output_dir=out,
                python=python,
                timeout_s=timeout_s or limits.agent_timeout_s,
                memory_mb=limits.memory_mb,
                max_processes=limits.max_processes,
                gateway=gateway.link(),
                env={
                    "SIA_ITEM_HEADER": ITEM_HEADER,
                    "SIA_GENERATION": str(number),
                    "SIA_SPLIT": split,
                    "SIA_SEED": str(self.config.seed),
                },
                hidden_paths=hidden,
                reserved_names=RESERVED_NAMES,
            )
            with self.reporter.phase(f"gen {number} · {split} · items", total=expected) as ph:
                done = threading.Event()

                def poll() -> None:
                    while not done.wait(0.5):
                        ph.update(len(gateway.usage.items))

                watcher = threading.Thread(target=poll, daemon=True)
                watcher.start()
                try:
                    result = self.sandbox.run(job)
                finally:
                    done.set()
                    watcher.join()
                ph.update(len(gateway.usage.items))
            usage = gateway.usage.as_dict()
        return result, usage

    # -- trial runs for agent backends ------------------------------------------------

    def _trial_runner(self, number: int, gen_tmp: Path, usage: dict[str, Any]) -> Trial:
        counter = itertools.count(1)
        lock = threading.Lock()

        def trial(agent_file: Path, items: int) -> TrialReport:
            with lock:  # one at a time: trials share the generation's budget and model
                base = gen_tmp / "trials" / f"trial_{next(counter)}"
                return self._trial(number, base, agent_file, items, usage)

        return trial

    def _trial(
        self, number: int, base: Path, agent_file: Path, items: int, usage: dict[str, Any]
    ) -> TrialReport:
        """Run a candidate harness on a few training items (or, for a task without
        labelled rows, the first few inputs, unscored) and say how it went."""
        items = max(1, min(int(items), TRIAL_MAX_ITEMS))
        base.mkdir(parents=True, exist_ok=True)
        agent = base / "target_agent.py"
        shutil.copy2(agent_file, agent)
        requirements = agent_file.parent / "requirements.txt"
        if requirements.is_file():
            shutil.copy2(requirements, base / "requirements.txt")
        try:
            python = python_for(base / "requirements.txt")
        except EnvError as exc:
            return TrialReport(False, items, None, False, 0.0, 0, None, {}, [], "", str(exc))
        view: Task | None = None
        note = ""
        if self.task.config.validation is not None and self.selection is not self.task:
            seed = self.config.seed * 1_000_003 + number * 101 + 7
            view = training_view(self.task, self.selection, base / "view", items, seed)
            dataset = view.public_dir
        else:
            dataset = sample_view(self.task, base / "view", items)
            note = (
                "not scored: this task has no labelled training rows, so the sample is the "
                "first inputs of the task and only whether the harness runs is reported"
            )
        out = base / "out"
        if self.local_model is not None and self.policy is None:
            self._serve(None)  # trials use whatever adapter is being served, if any
        try:
            result, spent = self._sandboxed(
                number,
                "trial",
                dataset,
                agent,
                out,
                python,
                items,
                (base / "view",),
                timeout_s=min(self.task.config.agent_timeout_s, TRIAL_TIMEOUT_S),
            )
            score, statuses = None, {}
            if view is not None:
                evaluation = self._score(view, out, result)
                score = evaluation.score
                for item in evaluation.items:
                    statuses[item.status] = statuses.get(item.status, 0) + 1
                if evaluation.error:
                    note = f"evaluator: {evaluation.error}"
        finally:
            shutil.rmtree(base / "view", ignore_errors=True)
        add_usage(usage.setdefault("trials", {}), spent)
        untagged = sum(1 for call in read_calls(out / "calls.jsonl") if not call.get("item_id"))
        if untagged:
            note = (
                f"{untagged} model call(s) carried no item id: send the item's id in the "
                f"header {ITEM_HEADER} on every call. " + note
            ).strip()
        skip = {  # the engine's own files, not the harness's outputs
            "calls.jsonl",
            "results.json",
            "agent_execution.json",
            "evaluation.log",
            "target_agent_stdout.log",
            "target_agent_stderr.log",
        }
        return TrialReport(
            ok=result.reason is None,
            items=items,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            duration_s=result.duration_s,
            calls=spent["calls"],
            score=score,
            statuses=statuses,
            files=sorted(p.name for p in out.iterdir() if p.is_file() and p.name not in skip),
            stdout_tail=result.stdout_tail,
            stderr_tail=result.reason + "\n" + result.stderr_tail
            if result.reason
            else result.stderr_tail,
            note=note,
        )

    def _score(self, view: Task, out: Path, result: SandboxResult) -> Evaluation:
        if result.violation and result.violation.startswith("outputs refused"):
            # Nothing was copied back: there is nothing of the agent's to score.
            return Evaluation(score=None, error=result.violation)
        return run_evaluator(view, out, shielded=self.bwrap is not None, bwrap=self.bwrap)

    def _say(self, record: dict[str, Any]) -> None:
        if record["status"] == "ok":
            mark = " (new incumbent)" if record["incumbent"] else ""
            self.reporter.info(
                f"generation {record['number']}: {self.task.config.metric} "
                f"{record['score']:.4f}{mark}"
            )
        else:
            self.reporter.info(f"generation {record['number']} failed: {record.get('error')}")


def provider_key_hint(result: SandboxResult) -> str | None:
    """An agent that died asking for a provider key (an original SIA reference agent)
    is told how a sia task agent reaches its model."""
    if result.ok:
        return None
    match = re.search(r"\b([A-Z][A-Z0-9_]*_API_KEY)\b", result.stderr_tail)
    if match is None:
        return None
    return (
        f"the agent looked for {match.group(1)}: a task agent gets no provider keys; it "
        "calls the task model through SIA_BASE_URL with SIA_API_KEY (OpenAI-compatible), "
        "see docs/tasks.md"
    )


def name_final_dir(record: dict[str, Any], tmp: Path, final: Path) -> dict[str, Any]:
    """The record, and every agent_execution.json under `tmp`, with `tmp` named `final`."""
    for path in tmp.rglob("agent_execution.json"):
        text = path.read_text(encoding="utf-8")
        if str(tmp) in text:
            atomic_write_text(path, text.replace(str(tmp), str(final)))
    return json.loads(json.dumps(record, default=str).replace(str(tmp), str(final)))


def incumbent_of(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The record of the current incumbent: the last generation that became one."""
    return next((r for r in reversed(records) if r.get("incumbent")), None)


def _sandbox_summary(result: SandboxResult) -> dict[str, Any]:
    return {
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "duration_s": round(result.duration_s, 3),
        "isolation": result.isolation,
        "dropped_outputs": result.dropped,
    }
