"""The folder a coding agent works in, and the only one its file tools may touch.

It holds the task's public files (big data files as their first lines), the reference
harness and sample task descriptions, and for the Feedback-Agent each earlier
generation's code and a report of scalar metrics, plus the evidence files. Never
data/private, never a results.json (evaluators may write answers into it), never a
held-out answer file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sia_core.backends.contract import FeedbackContext, GenerationView, MetaContext
from sia_core.generation_record import GenerationRecord
from sia_core.run_layout import gen_name, read_record
from sia_core.store import read_json_object
from sia_core.tasks.task import Task

BIG_FILE = 1_000_000
HEAD_LINES = 40
HARNESS_FILES = ("target_agent.py", "requirements.txt", "improvement.md")
"""What an agent writes for a new harness; copied into the generation."""


class OutsideWorkspace(ValueError):
    pass


def confine(workspace: Path, path: str | Path) -> Path:
    """The resolved path if it lies inside the workspace; raises OutsideWorkspace else."""
    root = workspace.resolve()
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise OutsideWorkspace(f"{path} is outside the workspace {root}; only files in it")
    return resolved


def _copy_public(task: Task, dest: Path) -> None:
    for source in sorted(task.public_dir.rglob("*")):
        if not source.is_file() or source.name == "results.json":
            continue
        target = dest / source.relative_to(task.public_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.stat().st_size <= BIG_FILE:
            shutil.copy2(source, target)
            continue
        # A harness reads the whole file at run time; the agent needs its format.
        with source.open(encoding="utf-8", errors="replace") as fh:
            head = [next(fh, "") for _ in range(HEAD_LINES)]
        target.with_name(target.name + ".head").write_text(
            f"[first {HEAD_LINES} lines of {source.name}, {source.stat().st_size} bytes; "
            "the harness reads the whole file from dataset_dir]\n" + "".join(head),
            encoding="utf-8",
        )


def _base(task: Task, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _copy_public(task, root / "task")
    reference = root / "reference"
    reference.mkdir(exist_ok=True)
    if task.reference_agent is not None:
        shutil.copy2(task.reference_agent, reference / "reference_target_agent.py")
        requirements = task.reference_agent.parent / "requirements.txt"
        if requirements.is_file():
            shutil.copy2(requirements, reference / "requirements.txt")
    if task.samples is not None:
        shutil.copy2(task.samples, reference / "SAMPLE_TASK_DESCRIPTIONS.md")


def meta_workspace(ctx: MetaContext, root: Path) -> Path:
    _base(ctx.task, root)
    return root


def scalar_metrics(record: GenerationRecord) -> dict[str, float]:
    """Only numbers: a summary may hold strings an evaluator put there (answers included)."""
    summary = record.summary or {}
    return {
        k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _record(view: GenerationView) -> GenerationRecord:
    data = read_record(view.dir) or {}
    return GenerationRecord.from_dict({"number": view.number, "started": 0.0, **data})


def generation_report(view: GenerationView, metric: str) -> str:
    record = _record(view)
    lines = [f"# generation {view.number}", "", f"status: {view.status}"]
    if view.score is not None:
        lines.append(f"selection {metric}: {view.score:.4f}")
    if view.error:
        lines.append(f"error: {view.error}")
    metrics = scalar_metrics(record)
    if metrics:
        lines += ["", "metrics:"] + [f"- {k}: {v:g}" for k, v in sorted(metrics.items())]
    decision = view.decision or {}
    if decision:
        lines += ["", f"lever: {decision.get('lever')}"]
        if decision.get("algorithm"):
            lines.append(f"algorithm: {decision['algorithm']} {decision.get('hyperparameters')}")
        lines.append(f"rationale: {decision.get('rationale', '')}")
    agent = record.agent or {}
    execution = view.dir / "agent_execution.json"
    if execution.is_file():
        sandbox = read_json_object(execution).get("sandbox", {})
        lines += [
            "",
            f"harness exit code {sandbox.get('exit_code')}, "
            f"{sandbox.get('duration_s')} s, timed out: {sandbox.get('timed_out')}",
        ]
        for name in ("stdout_tail", "stderr_tail"):
            if (sandbox.get(name) or "").strip():
                lines += [f"{name.replace('_', ' ')}:", "```", sandbox[name][-2000:], "```"]
    elif agent:
        lines.append(f"harness exit code {agent.get('exit_code')}")
    return "\n".join(lines) + "\n"


def metrics_table(history: list[GenerationView], metric: str) -> str:
    lines = [
        f"| gen | status | selection {metric} | lever | algorithm | other metrics |",
        "|---|---|---|---|---|---|",
    ]
    for view in history:
        decision = view.decision or {}
        others = scalar_metrics(_record(view))
        others.pop(metric, None)
        score = f"{view.score:.4f}" if view.score is not None else "-"
        extra = ", ".join(f"{k} {v:g}" for k, v in sorted(others.items())[:8])
        lines.append(
            f"| {view.number} | {view.status} | {score} | {decision.get('lever', '-')} | "
            f"{decision.get('algorithm') or '-'} | {extra} |"
        )
    return "\n".join(lines) + "\n"


def feedback_workspace(ctx: FeedbackContext, root: Path, evidence: dict[str, str]) -> Path:
    """`evidence`: file name under evidence/ -> its text."""
    _base(ctx.task, root)
    metric = ctx.task.config.metric
    history = root / "history"
    history.mkdir()
    (history / "metrics.md").write_text(metrics_table(ctx.history, metric), encoding="utf-8")
    for view in ctx.history:
        dest = history / gen_name(view.number)
        dest.mkdir()
        for name in (*HARNESS_FILES, "decision.json"):
            if (view.dir / name).is_file():
                shutil.copy2(view.dir / name, dest / name)
        (dest / "report.md").write_text(generation_report(view, metric), encoding="utf-8")
    folder = root / "evidence"
    folder.mkdir()
    for name, text in evidence.items():
        (folder / name).write_text(text, encoding="utf-8")
    for name in ("target_agent.py", "requirements.txt"):
        if (ctx.out_dir / name).is_file():
            shutil.copy2(ctx.out_dir / name, root / name)
    return root


def collect(workspace: Path, out_dir: Path, names: tuple[str, ...]) -> None:
    """Copy those of `names` the agent wrote into the generation."""
    for name in names:
        if (workspace / name).is_file():
            shutil.copy2(workspace / name, out_dir / name)
