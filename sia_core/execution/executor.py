"""Running a harness on a split: a gateway for its model calls, the sandbox for its code,
progress while it runs, then the task's evaluator on what it wrote.

Every evaluation, rollout and trial of a run goes through one Executor, so every agent
run gets the same limits, hidden paths, reserved names and gateway budget.
"""

from __future__ import annotations

import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core.errors import relative_paths
from sia_core.execution.evaluation import Evaluation, run_evaluator
from sia_core.execution.shards import SHARDS_DIR, merge_logs, merge_outputs, merge_results
from sia_core.execution.trajectories import write_agent_execution
from sia_core.gateway.server import ITEM_HEADER, Budget, Gateway
from sia_core.gateway.serving import TaskModel
from sia_core.progress import QuietReporter, Reporter
from sia_core.run_layout import RESERVED_NAMES
from sia_core.sandbox.api import Sandbox, SandboxJob, SandboxResult
from sia_core.tasks.splits import shard_views, split_items
from sia_core.tasks.task import Task

if TYPE_CHECKING:
    from sia_core.weights.shared_rollouts import SharedRound


@dataclass
class SplitOutcome:
    sandbox: SandboxResult
    evaluation: Evaluation
    usage: dict[str, Any]

    @property
    def error(self) -> str | None:
        """Why this run of the harness failed, in one line; None when it scored."""
        if not self.sandbox.reason and self.evaluation.score is not None:
            return None
        reasons = [self.sandbox.reason, self.evaluation.error, provider_key_hint(self.sandbox)]
        return "; ".join(r for r in reasons if r) or "the evaluator gave no score"


@dataclass
class Executor:
    task: Task
    sandbox: Sandbox
    serving: TaskModel
    budget: Budget
    concurrency: int
    seed: int
    run_path: Path
    bwrap: str | None
    """The bubblewrap binary for the evaluator; None: the user chose an unshielded
    sandbox by name, and the evaluator runs unshielded too."""
    reporter: Reporter = QuietReporter()
    parallel: int = 1
    """Sandboxes one run of a harness over a split is spread over (the task's
    [parallel] section says how its rows are cut and its outputs put back)."""
    shared_round: SharedRound | None = None
    """The latest weights candidate's first round of rollouts, which a later candidate
    of the same generation trains on instead of sampling it again (sia_core.levers.weights)."""

    def run_split(
        self,
        number: int,
        split: str,
        view: Task,
        agent: Path,
        out: Path,
        python: str,
        expected: int | None,
    ) -> SplitOutcome:
        spec = self.task.config.shards
        datasets = [view.public_dir]
        if self.parallel > 1 and spec is not None:
            datasets = shard_views(view, spec, self.parallel, out / ".shards_in")
        try:
            result, usage = self.sandboxed(
                number, split, datasets, agent, out, python, expected, (view.root,)
            )
        finally:
            shutil.rmtree(out / ".shards_in", ignore_errors=True)
        with self.reporter.phase(f"gen {number} · {split} · evaluating"):
            evaluation = self.score(view, out, result)
        # Records name the generation's files relative to its directory (the one holding
        # the harness), which is renamed into place only once whole.
        home = agent.parent
        result = replace(
            result,
            stdout_tail=relative_paths(result.stdout_tail, home) or "",
            stderr_tail=relative_paths(result.stderr_tail, home) or "",
            violation=relative_paths(result.violation, home),
        )
        evaluation = replace(evaluation, error=relative_paths(evaluation.error, home))
        write_agent_execution(out, result, evaluation)
        return SplitOutcome(sandbox=result, evaluation=evaluation, usage=usage)

    def score(self, view: Task, out: Path, result: SandboxResult) -> Evaluation:
        if result.outputs_refused:
            # Nothing was copied back: there is nothing of the agent's to score.
            return Evaluation(score=None, error=result.violation)
        return run_evaluator(view, out, shielded=self.bwrap is not None, bwrap=self.bwrap)

    def sandboxed(
        self,
        number: int,
        split: str,
        dataset: Path | list[Path],
        agent: Path,
        out: Path,
        python: str,
        expected: int | None,
        hide: tuple[Path, ...],
        timeout_s: float | None = None,
    ) -> tuple[SandboxResult, dict[str, Any]]:
        """Run the harness on `dataset` with its outputs in `out`; given several public
        directories (the shards of one split), one sandbox each, all at once and through
        one gateway, their outputs put back together in `out`."""
        out.mkdir(parents=True, exist_ok=True)
        datasets = dataset if isinstance(dataset, list) else [dataset]
        shard_outs = [out / SHARDS_DIR / str(k) for k in range(1, len(datasets) + 1)]
        limits = self.task.config
        hidden = tuple({self.task.root, self.run_path, *hide})
        with Gateway(
            self.serving.model,
            out / "calls.jsonl",
            budget=self.budget,
            concurrency=self.concurrency,
            known_items=split_items(self.task, datasets),
        ) as gateway:
            jobs = [
                SandboxJob(
                    agent_file=agent,
                    dataset_dir=public,
                    output_dir=shard_out if len(datasets) > 1 else out,
                    python=python,
                    timeout_s=timeout_s or limits.agent_timeout_s,
                    memory_mb=limits.memory_mb,
                    max_processes=limits.max_processes,
                    gpu=limits.gpu,
                    gateway=gateway.link(),
                    env={
                        "SIA_ITEM_HEADER": ITEM_HEADER,
                        "SIA_GENERATION": str(number),
                        "SIA_SPLIT": split,
                        "SIA_SEED": str(self.seed),
                        "SIA_SHARD": f"{k}/{len(datasets)}",
                    },
                    hidden_paths=hidden,
                    reserved_names=RESERVED_NAMES,
                )
                for k, (public, shard_out) in enumerate(zip(datasets, shard_outs, strict=True), 1)
            ]
            with self.reporter.phase(f"gen {number} · {split} · items", total=expected) as ph:
                done = threading.Event()

                def poll() -> None:
                    while not done.wait(0.5):
                        ph.update(len(gateway.usage.items))

                watcher = threading.Thread(target=poll, daemon=True)
                watcher.start()
                try:
                    if len(jobs) == 1:
                        result = self.sandbox.run(jobs[0])
                    else:
                        # Several datasets come only from the task's [parallel] section.
                        assert limits.shards is not None
                        with ThreadPoolExecutor(len(jobs)) as pool:
                            results = list(pool.map(self.sandbox.run, jobs))
                        problems = merge_outputs(limits.shards, shard_outs, out)
                        merge_logs(shard_outs, out)
                        result = merge_results(results, problems)
                finally:
                    done.set()
                    watcher.join()
                ph.update(len(gateway.usage.items))
            usage = gateway.usage.as_dict()
        return result, usage


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


def sandbox_summary(result: SandboxResult) -> dict[str, Any]:
    return {
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "duration_s": round(result.duration_s, 3),
        "isolation": result.isolation,
        "dropped_outputs": result.dropped,
    }
