"""`sia eval`: run a saved generation again — its harness, requirements and adapter, under
the run's own configuration — and report the score; with several repeats, the mean and
spread, which is the noise floor a keep rule has to clear.

Each repeat is kept under RUN/evals/gen_N-SPLIT-TIME/rep_K/ with the same files as a
generation's evaluation (calls.jsonl, results.json, agent_execution.json).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from sia_core.envs import EnvError, python_for
from sia_core.errors import SiaError
from sia_core.generation_record import GenerationRecord
from sia_core.loop.run_config import RunConfig
from sia_core.loop.run_dir import RunDir
from sia_core.progress import QuietReporter, Reporter
from sia_core.run_layout import adapter_dir, candidate_dir, gen_name, record_path
from sia_core.store import read_json
from sia_core.tasks.splits import selection_view


@dataclass
class EvalResult:
    generation: int
    split: str
    scores: list[float | None] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    recorded: float | None = None
    """The score the run recorded for this generation on this split."""
    out: Path | None = None

    @property
    def scored(self) -> list[float]:
        return [s for s in self.scores if s is not None]

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scored) if self.scored else None

    @property
    def spread(self) -> float | None:
        """Sample standard deviation over the repeats (None below two scores)."""
        return statistics.stdev(self.scored) if len(self.scored) > 1 else None


def reevaluate(
    run_path: Path,
    generation: int | None,
    split: str,
    repeat: int,
    reporter: Reporter | None = None,
    candidate: int | None = None,
    parallel: int | None = None,
    exact: bool = False,
) -> EvalResult:
    from sia_core.loop.wiring import make_executor, require_reachable

    rundir = RunDir(run_path)
    state = rundir.read()
    config = RunConfig(**state["config"])
    config.parallel = parallel or config.parallel
    config.exact = exact or config.exact
    records = {r.number: r for r in rundir.records()}
    if generation is None:
        generation = state.get("incumbent")
        if generation is None:
            raise SiaError(f"run {run_path.name} has no incumbent; name one with --gen N")
    record = records.get(generation)
    if record is None:
        known = ", ".join(map(str, sorted(records))) or "none"
        raise SiaError(f"run {run_path.name} has no whole generation {generation} (has: {known})")
    gen_dir = rundir.gen_dir(generation)
    if candidate is not None:
        gen_dir = candidate_dir(gen_dir, candidate)
        if not record_path(gen_dir).is_file():
            raise SiaError(f"generation {generation} has no candidate {candidate}")
        record = GenerationRecord.from_dict(read_json(record_path(gen_dir)))
    agent = gen_dir / "target_agent.py"
    if not agent.is_file():
        raise SiaError(f"generation {generation} has no target_agent.py: nothing to run")
    try:
        python = python_for(gen_dir / "requirements.txt")
    except EnvError as exc:
        raise SiaError(f"generation {generation}: {exc}") from None
    executor = make_executor(config, rundir.path)
    require_reachable(executor)
    executor.reporter = reporter or QuietReporter()
    task = executor.task
    if split == "selection":
        view = selection_view(task, rundir.path / "views")
        recorded = record.score
    else:
        view, recorded = task, record.test_score
    # A weights generation (or candidate) is evaluated with the adapter it trained.
    adapter = (
        adapter_dir(gen_dir)
        if record.adapter_gen == generation
        else rundir.adapter(record.adapter_gen)
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = gen_name(generation) + (f"-candidate_{candidate}" if candidate else "")
    out_root = rundir.path / "evals" / f"{name}-{split}-{stamp}"
    result = EvalResult(generation, split, recorded=recorded, out=out_root)
    try:
        executor.serving.serve(adapter, executor.reporter)
        for k in range(1, repeat + 1):
            out = out_root / f"rep_{k}"
            out.mkdir(parents=True)
            outcome = executor.run_split(generation, split, view, agent, out, python, None)
            result.scores.append(outcome.evaluation.score)
            result.errors.append(outcome.error)
    finally:
        executor.serving.close()  # a policy host's worker stops with the evaluation
    return result
