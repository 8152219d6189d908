"""The weights lever: rollouts of the current harness become an RL batch; an algorithm
plugin trains the policy's LoRA adapter on it; the adapter is saved with the generation.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core import plugins
from sia_core.console_log import third_party_to
from sia_core.errors import SiaError
from sia_core.execution.evaluation import Evaluation
from sia_core.execution.trajectories import read_calls
from sia_core.options import OptionError
from sia_core.policy.contract import Policy
from sia_core.run_layout import adapter_dir, derived_seed, gen_name, round_salt
from sia_core.store import atomic_write_json
from sia_core.tasks.splits import training_view
from sia_core.tasks.task import Task
from sia_core.usage import add_usage
from sia_core.weights.plan import plan_for
from sia_core.weights.rl import Group, RLBatch, Sample
from sia_core.weights.shared_rollouts import SharedRound, round_key

if TYPE_CHECKING:
    from sia_core.backends.contract import Decision
    from sia_core.execution.executor import Executor


def build_batch(runs: list[tuple[Path, Evaluation]]) -> RLBatch:
    """Group every logged call of every run by item, with that run's reward for the item.

    Calls without an item id or without token data (a harness that bypassed the tagging,
    or a model that returned none) cannot be credited and are left out.
    """
    groups: dict[str, list[Sample]] = {}
    for run, (calls_path, evaluation) in enumerate(runs):
        rewards = {item.id: item.reward for item in evaluation.items}
        for call in read_calls(calls_path):
            extra = call.get("extra") or {}
            item = call.get("item_id")
            if call.get("status") != "ok" or item not in rewards or not extra.get("completion_ids"):
                continue
            groups.setdefault(item, []).append(
                Sample(
                    prompt_ids=extra["prompt_ids"],
                    completion_ids=extra["completion_ids"],
                    logprobs=extra["logprobs"],
                    reward=rewards[item],
                    run=run,
                    temperature=extra.get("temperature", 1.0),
                )
            )
    return RLBatch([canonical(Group(item_id=k, samples=v)) for k, v in sorted(groups.items())])


def canonical(group: Group) -> Group:
    """An item's runs, ordered and numbered by what they said rather than by which run
    directory they came from. The K runs send the item the same prompts, so which run got
    which seeded draw follows thread timing; trainers chunk and pair samples in batch
    order, and would otherwise train on another batch whenever the threads ran otherwise."""
    ordered = sorted(
        group.runs.values(),
        key=lambda calls: [(c.prompt_ids, c.completion_ids, -c.reward) for c in calls],
    )
    samples = [replace(c, run=n) for n, calls in enumerate(ordered) for c in calls]
    return Group(item_id=group.item_id, samples=samples)


def save_adapter(
    policy: Policy, dest: Path, record: dict[str, Any], extra_files: dict[str, bytes], key: str
) -> None:
    """`key`: where a policy host keeps the adapter too (RUN/gen_N/…)."""
    policy.save_adapter(dest, key)
    for name, data in extra_files.items():
        (dest / name).write_bytes(data)
    atomic_write_json(dest / "training.json", record)


def describe(batch: RLBatch) -> dict[str, Any]:
    return {
        "items": len(batch.groups),
        "samples": len(batch.samples),
        "mean_reward": round(sum(batch.rewards) / max(len(batch.rewards), 1), 4),
    }


def improve_weights(
    executor: Executor,
    selection: Task,
    tmp: Path,
    decision: Decision,
    agent: Path,
    python: str,
    number: int,
    adapter_gen: int | None,
    candidate: int | None,
    usage: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The weights lever of one generation: rounds of K rollouts of the harness on
    training rows drawn from what the selection split leaves, each round's calls and
    rewards handed to the algorithm plugin, the adapter saved in tmp/adapter/.
    `adapter_gen`: the generation whose adapter training starts from; `candidate`: which
    of the generation's candidates this is (its first round may be shared). The rollouts'
    task-model usage is added to `usage` under "rollouts" as they finish; returns the
    training record (adapter/training.json)."""
    spec = plugins.rl_algorithm(decision.algorithm or "")
    policy = executor.serving.policy
    if policy is None or executor.task.config.validation is None:
        raise SiaError(
            "the task model is not an open-weight model served by the local "
            "policy, or the task has no labelled rows to train on"
        )
    try:
        checked = plan_for(decision.hyperparameters, spec.name, spec.config)
    except OptionError as exc:
        raise SiaError(f"decision: {exc}") from None
    plan, reporter = checked.rollout, executor.reporter
    rounds: list[dict[str, Any]] = []
    extra_files: dict[str, bytes] = {}
    key = round_key(number, adapter_gen, agent, python, plan)
    shared = executor.shared_round
    for round_no in range(plan.rounds):
        seed = derived_seed(executor.seed, number, round_salt(round_no))
        reused = shared if round_no == 0 and shared is not None and shared.key == key else None
        if reused is not None:
            batch, summary = reused.batch, reused.summary
        else:
            base = tmp / "rollouts" / f"round_{round_no}"
            view = training_view(executor.task, selection, base / "view", plan.items, seed)

            def rollout(j: int, view: Task = view, base: Path = base, r: int = round_no) -> Any:
                return executor.run_split(
                    number, f"rollout {r + 1}.{j + 1}", view, agent, base / f"run_{j}", python, None
                )

            sampling = policy.sampling({"temperature": plan.temperature, "seed": seed})
            with sampling, ThreadPoolExecutor(plan.k) as pool:
                runs = list(pool.map(rollout, range(plan.k)))
            batch = build_batch(
                [(base / f"run_{j}" / "calls.jsonl", run.evaluation) for j, run in enumerate(runs)]
            )
            summary = describe(batch)
            for run in runs:
                add_usage(usage.setdefault("rollouts", {}), run.usage)
            if round_no == 0 and candidate is not None:
                executor.shared_round = SharedRound(key, candidate, batch, summary)
        label = f"gen {number} · training {spec.name} (round {round_no + 1}/{plan.rounds})"
        with reporter.phase(label), third_party_to(executor.serving.log_path):
            metrics, extra_files = policy.train(
                spec.name, spec.trainer, batch, checked.config, seed
            )
        # The rows this adapter has seen the answers of: a keep rule's second look
        # scores on rows outside them.
        trained = [group.item_id for group in batch.groups]
        rounds.append({"batch": summary, "metrics": metrics, "item_ids": trained})
        if reused is not None:
            rounds[-1]["rollouts_of_candidate"] = reused.candidate
            reporter.info(
                f"gen {number}: {spec.name} round 1: the rollouts of candidate {reused.candidate}"
            )
        else:
            reporter.info(
                f"gen {number}: {spec.name} round {round_no + 1}: {summary['samples']} samples, "
                f"rollout mean reward {summary['mean_reward']:.3f}"
            )
    training = {
        "algorithm": spec.name,
        "plan": asdict(plan),
        "config": asdict(checked.config) if checked.config is not None else {},
        "started_from_gen": adapter_gen,
        "rounds": rounds,
    }
    key = f"{gen_name(number)}/{tmp.name.lstrip('.')}"  # where a policy host keeps it too
    save_adapter(policy, adapter_dir(tmp), training, extra_files, key)
    return training
