"""Running a harness on a split: a gateway for its model calls, the sandbox for its code,
progress while it runs, then the task's evaluator on what it wrote.

Every evaluation, rollout and trial of a run goes through one Executor, so every agent
run gets the same limits, hidden paths, reserved names and gateway budget.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sia_core.evaluation import Evaluation, run_evaluator
from sia_core.gateway import ITEM_HEADER, Budget, Gateway
from sia_core.progress import QuietReporter, Reporter
from sia_core.runs import RESERVED_NAMES
from sia_core.sandbox.api import Sandbox, SandboxJob, SandboxResult
from sia_core.serving import TaskModel
from sia_core.task import Task
from sia_core.trajectories import write_agent_execution


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
        result, usage = self.sandboxed(
            number, split, view.public_dir, agent, out, python, expected, (view.root,)
        )
        with self.reporter.phase(f"gen {number} · {split} · evaluating"):
            evaluation = self.score(view, out, result)
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
        hidden = tuple({self.task.root, self.run_path, *hide})
        with Gateway(
            self.serving.model,
            out / "calls.jsonl",
            budget=self.budget,
            concurrency=self.concurrency,
        ) as gateway:
            job = SandboxJob(
                agent_file=agent,
                dataset_dir=dataset,
                output_dir=out,
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
