"""Prompts for the Meta-Agent and the Feedback-Agent, rendered from template files.

The templates live in prompts/ next to this module; the session's Settings name the
backend's own tools. `evidence_files` builds what a Feedback-Agent reads under evidence/.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from string import Template

from sia_core.agent_session import evidence
from sia_core.agent_session.settings import Settings
from sia_core.backends.contract import FeedbackContext, MetaContext
from sia_core.harness.knob_search import STUDY_FILE, KnobSearch
from sia_core.harness.knobs import FORMS, KnobError, read_knobs
from sia_core.store import read_json_object
from sia_core.weights.plan import options_text, rollout_text

PROMPTS = Path(str(files("sia_core.agent_session") / "prompts"))
BASE_PACKAGES = "the Python standard library and openai"


def render(name: str, **values: object) -> str:
    template = Template((PROMPTS / f"{name}.md").read_text(encoding="utf-8"))
    return template.substitute({k: str(v) for k, v in values.items()})


def _model_line(task_model: str | None) -> str:
    if task_model:
        return f"The task model is `{task_model}`; the endpoint serves it under SIA_MODEL."
    return "This task names no task model: a harness that needs none is fine."


def _common(task_model: str | None, settings: Settings) -> dict[str, object]:
    """The values both prompts fill in: the task model, and the agent's tools and caps."""
    return {
        "task_model_line": _model_line(task_model),
        "base_packages": BASE_PACKAGES,
        "read_tool": settings.read_tool,
        "write_tool": settings.write_tool,
        "trial_tool": settings.trial_tool,
        "trial_items": settings.trial_items,
        "max_turns": settings.max_turns,
    }


def meta_prompt(ctx: MetaContext, settings: Settings) -> str:
    return render("meta", task_name=ctx.task.name, **_common(ctx.task_model, settings))


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


def _siblings_paragraph(ctx: FeedbackContext) -> str:
    """One session per candidate, each told what the earlier ones chose, so that the N
    children of a generation differ (N independent sessions would often agree)."""
    if ctx.candidates <= 1:
        return ""
    lines = [
        f"\n\nThis generation has {ctx.candidates} candidates, evaluated side by side on "
        f"the selection split; you write candidate {ctx.candidate}."
    ]
    if ctx.siblings:
        lines.append(" The candidates before you chose (make yours a different idea):")
        for i, sibling in enumerate(ctx.siblings, start=1):
            what = sibling.lever + (f" ({sibling.algorithm})" if sibling.algorithm else "")
            lines.append(f"\n- candidate {i}: {what}: {sibling.rationale[:400]}")
    return "".join(lines)


def feedback_prompt(ctx: FeedbackContext, settings: Settings) -> str:
    prompt = render(
        "feedback",
        task_name=ctx.task.name,
        number=ctx.number,
        parent=ctx.parent.number,
        metric=ctx.task.config.metric,
        direction="higher" if ctx.task.config.direction == "max" else "lower",
        weights_paragraph=_weights_paragraph(ctx),
        **_common(ctx.task_model, settings),
    )
    return prompt + _siblings_paragraph(ctx)


def retry_prompt(error: str) -> str:
    return render("retry", error=error)


def evidence_files(ctx: FeedbackContext, budget_tokens: int) -> dict[str, str]:
    execution = read_json_object(ctx.parent.dir / "agent_execution.json")
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
        f'{"needs" if a.needs_value_model else "no"} value model). Its "algorithm" '
        f"options:\n{options_text(ctx.algorithm_configs.get(a.name))}"
        for a in ctx.algorithms
    )
    if algorithms:
        algorithms += (
            '\n\n"hyperparameters" has two parts, each optional: '
            '{"rollout": {...}, "algorithm": {...}}. The "rollout" options (every '
            f"algorithm):\n{rollout_text()}"
        )
    return {
        "knobs.md": knobs_text(ctx),
        "trajectories.md": f"# Trajectories of generation {ctx.parent.number}\n\n{trajectories}\n",
        "reward_shape.md": shape,
        "algorithms.md": "# Installed RL algorithms\n\n" + (algorithms or "(none)") + "\n",
    }


def knobs_text(ctx: FeedbackContext) -> str:
    """The knobs the parent harness declares and the knob trials so far."""
    lines = ["# Harness knobs", ""]
    harness = ctx.out_dir / "target_agent.py"
    try:
        knobs = read_knobs(harness) if harness.is_file() else []
    except KnobError as exc:
        lines.append(f"target_agent.py's knobs cannot be read: {exc}")
        knobs = []
    else:
        if knobs:
            lines.append(f"target_agent.py (generation {ctx.parent.number}) declares:")
            lines += [f"- `{k.name} = {k.value!r}` ({k.spec}; line {k.line})" for k in knobs]
        else:
            lines.append("target_agent.py declares no knobs.")
    lines += [
        "",
        "A knob is a module-level constant with a trailing comment `# sia-knob: KIND SPEC`, "
        f"one of {FORMS}. A demos knob holds ids of rows of a public file that the harness "
        "uses as few-shot examples; sia only ever proposes ids that are neither selection "
        "nor test items. sia's offline backend tunes declared knobs without an LLM (one "
        "trial per generation, Optuna TPE). You may change knob values, declare new knobs "
        "for choices you are unsure of, or remove knobs; keep the syntax exact.",
    ]
    if ctx.run_dir is not None and (ctx.run_dir / STUDY_FILE).is_file():
        trials = KnobSearch(ctx.run_dir, ctx.task.config.direction, ctx.seed).table()
        lines += ["", "## Knob trials so far", ""]
        for t in trials:
            score = "-" if t["score"] is None else f"{t['score']:.4f}"
            values = ", ".join(f"{k}={v!r}" for k, v in (t["values"] or {}).items())
            lines.append(
                f"- trial {t['trial']} (generation {t['gen']}, {t['how']}, {t['state']}): "
                f"{score}: {values}"
            )
    return "\n".join(lines) + "\n"
