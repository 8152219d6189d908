"""Prompts for the Meta-Agent and the Feedback-Agent, rendered from template files.

The templates live in prompts/ next to this module; a backend passes the names of its
own tools. `evidence_files` builds what a Feedback-Agent reads under evidence/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from sia_core.agent_session import evidence
from sia_core.backend_api import FeedbackContext, MetaContext

PROMPTS = Path(str(files("sia_core.agent_session") / "prompts"))
BASE_PACKAGES = "the Python standard library and openai"


@dataclass(frozen=True)
class Tools:
    """How the backend's tools are named in the prompts."""

    read: str
    write: str
    trial: str
    max_turns: int
    trial_items: int = 5


def render(name: str, **values: object) -> str:
    template = Template((PROMPTS / f"{name}.md").read_text(encoding="utf-8"))
    return template.substitute({k: str(v) for k, v in values.items()})


def _model_line(task_model: str | None) -> str:
    if task_model:
        return f"The task model is `{task_model}`; the endpoint serves it under SIA_MODEL."
    return "This task names no task model: a harness that needs none is fine."


def meta_prompt(ctx: MetaContext, tools: Tools) -> str:
    return render(
        "meta",
        task_name=ctx.task.name,
        task_model_line=_model_line(ctx.task_model),
        base_packages=BASE_PACKAGES,
        read_tool=tools.read,
        write_tool=tools.write,
        trial_tool=tools.trial,
        trial_items=tools.trial_items,
        max_turns=tools.max_turns,
    )


def _weights_paragraph(ctx: FeedbackContext) -> str:
    if not ctx.weights_available:
        return (
            "The weights lever is not available in this run: the task model "
            f"({ctx.task_model or 'none'}) is not an open-weight model this engine trains, or "
            'the task has no labelled rows to train on. Choose "harness".'
        )
    names = ", ".join(a.name for a in ctx.algorithms) or "none"
    return (
        '- "weights": keep the harness and train the task model\'s LoRA adapter with one of '
        f"the installed RL algorithms ({names}; see evidence/algorithms.md) on rollouts of "
        'the current harness. Give "algorithm" and, optionally, "hyperparameters".\n'
        '- "both": a new harness and training, in that order.'
    )


def feedback_prompt(ctx: FeedbackContext, tools: Tools) -> str:
    return render(
        "feedback",
        task_name=ctx.task.name,
        number=ctx.number,
        parent=ctx.parent.number,
        metric=ctx.task.config.metric,
        direction="higher" if ctx.task.config.direction == "max" else "lower",
        task_model_line=_model_line(ctx.task_model),
        base_packages=BASE_PACKAGES,
        weights_paragraph=_weights_paragraph(ctx),
        read_tool=tools.read,
        write_tool=tools.write,
        trial_tool=tools.trial,
        trial_items=tools.trial_items,
        max_turns=tools.max_turns,
    )


def retry_prompt(error: str) -> str:
    return render("retry", error=error)


def evidence_files(ctx: FeedbackContext, budget_tokens: int) -> dict[str, str]:
    execution_file = ctx.parent.dir / "agent_execution.json"
    execution = {}
    if execution_file.is_file():
        try:
            execution = json.loads(execution_file.read_text("utf-8"))
        except ValueError:
            execution = {}
    trajectories, _ = evidence.sample(execution, budget_tokens)
    report = ctx.reward_report
    if report is None:
        shape = "No rewards: the generation this one builds on was not scored."
    else:
        stats = ", ".join(f"{k} {v:.4g}" for k, v in sorted(report.stats.items()))
        reasons = "\n".join(f"- {name}: {why}" for name, why in report.reasons.items())
        shape = (
            f"# Reward shape of generation {ctx.parent.number}: {report.label}\n\n"
            f"{report.explanation}\n\nstatistics: {stats}\n\n"
            f"classifier's ranking of the installed algorithms: {', '.join(report.ranking)}\n"
            f"{reasons}\n"
        )
    algorithms = "\n".join(
        f"- `{a.name}`: {a.summary} (suits rewards: {', '.join(a.reward_shapes)}; "
        f"{'needs' if a.needs_value_model else 'no'} value model)"
        for a in ctx.algorithms
    )
    return {
        "trajectories.md": f"# Trajectories of generation {ctx.parent.number}\n\n{trajectories}\n",
        "reward_shape.md": shape,
        "algorithms.md": "# Installed RL algorithms\n\n" + (algorithms or "(none)") + "\n",
    }
