"""`sia run`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

EXIT_FINISHED = 0
EXIT_BAD_INPUT = 2  # a SiaError: one line on stderr (sia_core.cli.main)
EXIT_NOTHING_SCORED = 3
EXIT_STOPPED = 4
EXIT_INTERRUPTED = 130


def exit_code(state: dict[str, object]) -> int:
    """How a finished `sia run` ends: docs/configuration.md lists the codes."""
    generations = state.get("generations") or []
    if not any(g.get("status") == "ok" for g in generations):  # type: ignore[union-attr]
        return EXIT_NOTHING_SCORED
    if state.get("status") == "stopped":
        return EXIT_STOPPED
    return EXIT_FINISHED


def _options(pairs: tuple[str, ...], flag: str = "--backend-opt") -> dict[str, str]:
    from sia_core.errors import SiaError

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SiaError(f"{flag} {pair!r}: write KEY=VALUE")
        options[key.strip()] = value
    return options


def _lora(
    rank: int | None, alpha: int | None, targets: str | None, lr: float | None
) -> dict[str, object]:
    lora: dict[str, object] = {}
    if rank is not None:
        lora.update(rank=rank, alpha=alpha or max(1, rank // 2))
    if alpha is not None:
        lora["alpha"] = alpha
    if targets:
        lora["target_modules"] = [t.strip() for t in targets.split(",") if t.strip()]
    if lr is not None:
        lora["learning_rate"] = lr
    return lora


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# `sia run` options that set a RunConfig field of another name.
_FIELDS = {
    "backend_opt": "backend_options",
    "sandbox_opt": "sandbox_options",
    "policy_host_opt": "policy_host_options",
    "budget_usd": "budget_cost_usd",
    "lora_rank": "lora",
    "lora_alpha": "lora",
    "lora_targets": "lora",
    "lora_lr": "lora",
}


def _given_fields() -> set[str]:
    """RunConfig fields set by options typed on the command line (not defaults)."""
    ctx = click.get_current_context()
    return {
        _FIELDS.get(name, name)
        for name in ctx.params
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        and name != "resume"
    }


@click.command()
@click.option("--task", help="Task name, resolved by the installed task loaders (`sia tasks`).")
@click.option(
    "--task-dir", type=click.Path(file_okay=False), help="A task directory in the SIA layout."
)
@click.option(
    "--max-gen",
    type=click.IntRange(min=1),
    default=None,
    help="Number of generations (default 3; on --resume, extends the run).",
)
@click.option("--run-id", help="Name of the run (default: a timestamp).")
@click.option(
    "--backend",
    default="heuristic",
    show_default=True,
    help="Meta-/Feedback-Agent backend (`sia plugins` lists them).",
)
@click.option(
    "--backend-opt",
    "backend_opt",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option for the backend, repeatable (scripted: script=DIR).",
)
@click.option("--meta-model", help="Model of the Meta- and Feedback-Agent.")
@click.option("--task-model", help="Task model, any litellm model name (overrides task.toml).")
@click.option(
    "--task-model-base",
    help="API base URL for the task model (an OpenAI-compatible server: vLLM, Ollama, llama.cpp).",
)
@click.option(
    "--sandbox",
    default="local",
    show_default=True,
    help="Where the agent runs: local (bubblewrap) or process (unshielded, by choice).",
)
@click.option(
    "--sandbox-opt",
    "sandbox_opt",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option for the sandbox, repeatable (local: bwrap=PATH).",
)
@click.option(
    "--policy-host",
    default=None,
    help="Serve and train the open-weight task model there (e.g. modal: a GPU) "
    "instead of in this process.",
)
@click.option(
    "--policy-host-opt",
    "policy_host_opt",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option for the policy host, repeatable (modal: gpu=H100).",
)
@click.option(
    "--reward-classifier",
    default="stats",
    show_default=True,
    help="Reward-shape classifier that labels rewards and ranks RL algorithms.",
)
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--budget-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Task-model token budget per evaluation.",
)
@click.option(
    "--budget-usd",
    type=click.FloatRange(min=0),
    default=None,
    help="Task-model cost budget per evaluation, in US dollars.",
)
@click.option(
    "--concurrency",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Concurrent task-model calls through the gateway.",
)
@click.option(
    "--parallel",
    default=1,
    show_default=True,
    type=click.IntRange(min=1, max=256),
    help="Sandboxes each evaluation and rollout is spread over (the task's [parallel] rows).",
)
@click.option(
    "--exact",
    is_flag=True,
    help="Open-weight task model: sample every greedy call alone, so a score does not "
    "depend on which calls shared a batch (slower evaluations).",
)
@click.option(
    "--lora-rank",
    type=click.IntRange(min=1),
    default=None,
    help="LoRA rank of the local policy (default 32, the paper's).",
)
@click.option(
    "--lora-alpha",
    type=click.IntRange(min=1),
    default=None,
    help="LoRA alpha (default half the rank: 16 at rank 32).",
)
@click.option(
    "--lora-targets",
    default=None,
    metavar="M1,M2",
    help="Modules that get LoRA (default q_proj,k_proj,v_proj,o_proj).",
)
@click.option(
    "--lora-lr",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Learning rate of the LoRA parameters (default 2e-4).",
)
@click.option(
    "--candidates",
    type=click.IntRange(min=1, max=32),
    default=1,
    show_default=True,
    help="Children proposed per generation, evaluated side by side; the best may be kept.",
)
@click.option(
    "--keep-rule",
    type=click.Choice(["raw", "paired"]),
    default="raw",
    show_default=True,
    help="raw: keep a better selection score; paired: only when better by more than noise.",
)
@click.option(
    "--parent",
    type=click.Choice(["incumbent", "archive"]),
    default="incumbent",
    show_default=True,
    help="Make children from the incumbent, or from a generation sampled by selection rank.",
)
@click.option("--resume", is_flag=True, help="Continue a run from its last whole generation.")
def run(
    task: str | None,
    task_dir: str | None,
    max_gen: int | None,
    run_id: str | None,
    backend: str,
    backend_opt: tuple[str, ...],
    meta_model: str | None,
    task_model: str | None,
    task_model_base: str | None,
    sandbox: str,
    sandbox_opt: tuple[str, ...],
    policy_host: str | None,
    policy_host_opt: tuple[str, ...],
    reward_classifier: str,
    runs_dir: str,
    seed: int,
    budget_tokens: int | None,
    budget_usd: float | None,
    concurrency: int,
    parallel: int,
    exact: bool,
    lora_rank: int | None,
    lora_alpha: int | None,
    lora_targets: str | None,
    lora_lr: float | None,
    candidates: int,
    keep_rule: str,
    parent: str,
    resume: bool,
) -> None:
    """Run generations of self-improvement on a task."""
    from rich.console import Console

    from sia_core.cli.progress import RichReporter
    from sia_core.errors import SiaError
    from sia_core.loop.generation_loop import Loop, RunConfig
    from sia_core.report.tables import print_summary

    if resume and not run_id:
        raise SiaError("--resume needs --run-id: the run to continue")
    if not resume and not (task or task_dir):
        raise SiaError("name a task: --task NAME or --task-dir PATH")
    config = RunConfig(
        task=task,
        task_dir=str(Path(task_dir).resolve()) if task_dir else None,
        max_gen=max_gen or (0 if resume else 3),
        run_id=run_id,
        backend=backend,
        backend_options=_options(backend_opt),
        meta_model=meta_model,
        task_model=task_model,
        task_model_base=task_model_base,
        sandbox=sandbox,
        sandbox_options=_options(sandbox_opt, "--sandbox-opt"),
        policy_host=policy_host,
        policy_host_options=_options(policy_host_opt, "--policy-host-opt"),
        reward_classifier=reward_classifier,
        runs_dir=str(Path(runs_dir).resolve()),
        seed=seed,
        budget_tokens=budget_tokens,
        budget_cost_usd=budget_usd,
        concurrency=concurrency,
        parallel=parallel,
        exact=exact,
        lora=_lora(lora_rank, lora_alpha, lora_targets, lora_lr),
        candidates=candidates,
        keep_rule=keep_rule,
        parent=parent,
    )
    console = Console(stderr=False)
    signal.signal(signal.SIGTERM, _terminate)
    loop = Loop(config, resume=resume, explicit=_given_fields())
    try:
        with RichReporter(console) as reporter:
            loop.reporter = reporter
            state = loop.run()
    except KeyboardInterrupt:
        click.echo(
            f"interrupted; continue with: sia run --resume --run-id {loop.config.run_id}"
            f" --runs-dir {loop.config.runs_dir}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    print_summary(state, loop.rundir, console)
    sys.exit(exit_code(state))
