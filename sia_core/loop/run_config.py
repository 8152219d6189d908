"""What a run is asked to do: RunConfig (stored in run.json) and, in one table, the
`sia run` option that sets each of its fields. The CLI is built from the table and the
defaults are RunConfig's, so the two never disagree. Light on purpose: `sia --help`
imports it."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import click

from sia_core.errors import SiaError


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
    parallel: int = 1
    exact: bool = False
    """The local policy samples every greedy call alone (`--exact`)."""
    """Sandboxes each run of a harness over a split is spread over (`--parallel`)."""
    reward_classifier: str = "stats"
    sandbox_options: dict[str, str] = field(default_factory=dict)
    """`--sandbox-opt KEY=VALUE` pairs, passed to the sandbox's factory."""
    policy_host: str | None = None
    """Where the open-weight task model is served and trained (None: in sia's process)."""
    policy_host_options: dict[str, str] = field(default_factory=dict)
    lora: dict[str, Any] = field(default_factory=dict)
    """Overrides of LoraSettings: rank, alpha, target_modules, learning_rate."""
    candidates: int = 1
    """Children proposed and evaluated per generation; the best is considered for keeping."""
    keep_rule: str = "paired"
    """"raw" (a better selection score) or "paired" (better by more than noise)."""
    parent: str = "incumbent"
    """Which generation a child is made from: "incumbent", or "archive" (sampled)."""


@dataclass(frozen=True)
class Option:
    """One `sia run` option and the RunConfig field it sets."""

    flag: str
    field: str
    help: str
    type: Any = None
    multiple: bool = False
    metavar: str | None = None
    is_flag: bool = False
    lora_key: str | None = None
    """For the --lora-* options: the key of RunConfig.lora it sets."""

    @property
    def param(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def default(self) -> Any:
        if self.lora_key or self.multiple or self.field == "max_gen":
            return None  # unset: the field's value is worked out from what is given
        spec = next(f for f in fields(RunConfig) if f.name == self.field)
        return None if spec.default is MISSING else spec.default


OPTIONS: tuple[Option, ...] = (
    Option("--task", "task", "Task name, resolved by the installed task loaders (`sia tasks`)."),
    Option("--task-dir", "task_dir", "A task directory in the SIA layout.",
           click.Path(file_okay=False)),
    Option("--max-gen", "max_gen", "Number of generations (default 3; on --resume, extends "
           "the run).", click.IntRange(min=1)),
    Option("--run-id", "run_id", "Name of the run (default: a timestamp)."),
    Option("--backend", "backend", "Meta-/Feedback-Agent backend (`sia plugins` lists them)."),
    Option("--backend-opt", "backend_options", "Option for the backend, repeatable "
           "(scripted: script=DIR).", multiple=True, metavar="KEY=VALUE"),
    Option("--meta-model", "meta_model", "Model of the Meta- and Feedback-Agent."),
    Option("--task-model", "task_model", "Task model, any litellm model name (overrides "
           "task.toml)."),
    Option("--task-model-base", "task_model_base", "API base URL for the task model (an "
           "OpenAI-compatible server: vLLM, Ollama, llama.cpp)."),
    Option("--sandbox", "sandbox", "Where the agent runs: local (bubblewrap) or process "
           "(unshielded, by choice)."),
    Option("--sandbox-opt", "sandbox_options", "Option for the sandbox, repeatable (local: "
           "bwrap=PATH).", multiple=True, metavar="KEY=VALUE"),
    Option("--policy-host", "policy_host", "Serve and train the open-weight task model there "
           "(e.g. modal: a GPU) instead of in this process."),
    Option("--policy-host-opt", "policy_host_options", "Option for the policy host, "
           "repeatable (modal: gpu=H100).", multiple=True, metavar="KEY=VALUE"),
    Option("--reward-classifier", "reward_classifier", "Reward-shape classifier that labels "
           "rewards and ranks RL algorithms."),
    Option("--runs-dir", "runs_dir", "Where runs are kept.", click.Path(file_okay=False)),
    Option("--seed", "seed", "Seed of every random draw of the run.", int),
    Option("--budget-tokens", "budget_tokens", "Task-model token budget per evaluation.",
           click.IntRange(min=1)),
    Option("--budget-usd", "budget_cost_usd", "Task-model cost budget per evaluation, in US "
           "dollars.", click.FloatRange(min=0)),
    Option("--concurrency", "concurrency", "Concurrent task-model calls through the gateway.",
           click.IntRange(min=1)),
    Option("--parallel", "parallel", "Sandboxes each evaluation and rollout is spread over "
           "(the task's [parallel] rows).", click.IntRange(min=1, max=256)),
    Option("--exact", "exact", "Open-weight task model: sample every greedy call alone, so a "
           "score does not depend on which calls shared a batch (slower evaluations).",
           is_flag=True),
    Option("--lora-rank", "lora", "LoRA rank of the local policy (default 32, the paper's).",
           click.IntRange(min=1), lora_key="rank"),
    Option("--lora-alpha", "lora", "LoRA alpha (default half the rank: 16 at rank 32).",
           click.IntRange(min=1), lora_key="alpha"),
    Option("--lora-targets", "lora", "Modules that get LoRA (default "
           "q_proj,k_proj,v_proj,o_proj).", metavar="M1,M2", lora_key="target_modules"),
    Option("--lora-lr", "lora", "Learning rate of the LoRA parameters (default 2e-4).",
           click.FloatRange(min=0, min_open=True), lora_key="learning_rate"),
    Option("--candidates", "candidates", "Children proposed per generation, evaluated side by "
           "side; the best may be kept.", click.IntRange(min=1, max=32)),
    Option("--keep-rule", "keep_rule", "paired: keep a child only when it beats the "
           "incumbent on the same items by more than noise; raw: keep any better selection "
           "score (the original SIA's rule).", click.Choice(["raw", "paired"])),
    Option("--parent", "parent", "Make children from the incumbent, or from a generation "
           "sampled by selection rank.", click.Choice(["incumbent", "archive"])),
)  # fmt: skip

FLAG_OF = {o.field: o.flag for o in OPTIONS if not o.lora_key} | {"lora": "--lora-*"}
"""How `sia run` spells each RunConfig field, for messages."""


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    options = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SiaError(f"{flag} {pair!r}: write KEY=VALUE")
        options[key.strip()] = value
    return options


def _lora(given: dict[str, Any]) -> dict[str, Any]:
    lora: dict[str, Any] = {}
    if given.get("rank") is not None:
        lora.update(rank=given["rank"], alpha=given.get("alpha") or max(1, given["rank"] // 2))
    if given.get("alpha") is not None:
        lora["alpha"] = given["alpha"]
    if given.get("target_modules"):
        targets = [t.strip() for t in given["target_modules"].split(",") if t.strip()]
        lora["target_modules"] = targets
    if given.get("learning_rate") is not None:
        lora["learning_rate"] = given["learning_rate"]
    return lora


def config_from_options(values: dict[str, Any], resume: bool) -> RunConfig:
    """The RunConfig of `sia run`'s parsed options (by parameter name)."""
    settings: dict[str, Any] = {}
    lora: dict[str, Any] = {}
    for option in OPTIONS:
        value = values.get(option.param)
        if option.lora_key:
            lora[option.lora_key] = value
        elif option.multiple:
            settings[option.field] = _pairs(tuple(value or ()), option.flag)
        else:
            settings[option.field] = value
    settings["lora"] = _lora(lora)
    if settings.get("task") and settings.get("task_dir"):
        raise SiaError(
            f"--task {settings['task']} and --task-dir {settings['task_dir']} name two tasks; "
            "give one of them"
        )
    for path in ("task_dir", "runs_dir"):
        if settings.get(path):
            settings[path] = str(Path(settings[path]).resolve())
    settings["max_gen"] = settings.get("max_gen") or (0 if resume else 3)
    return RunConfig(**settings)


def field_of(param: str) -> str:
    """The RunConfig field a `sia run` parameter sets."""
    return next((o.field for o in OPTIONS if o.param == param), param)


def check_scripted(config: RunConfig) -> None:
    """The scripted backend without a script has generation 1 only: refuse a longer run
    before any work rather than fail it at generation 2."""
    wanted = config.backend == "scripted" and config.max_gen > 1
    if wanted and "script" not in config.backend_options:
        raise SiaError(
            "--backend scripted replays DIR/gen_N/; without --backend-opt script=DIR it "
            "has only generation 1 (the task's reference harness): add "
            "--backend-opt script=DIR, or --max-gen 1"
        )
