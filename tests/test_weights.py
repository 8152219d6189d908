"""The weights lever end to end on a tiny model: the heuristic backend reads the reward
shape, picks an algorithm, rollouts go through the sandbox and the gateway, the adapter
is trained, saved as a standard PEFT directory, and the held-out score rises."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sia_core.execution.evaluation import Evaluation, ItemResult
from sia_core.levers.weights import build_batch
from sia_core.testing.tiny import tiny_tokenizer
from sia_core.testing.yes_task import AGENT
from sia_core.weights.rl import Group, Sample
from tests.conftest import sia

pytestmark = pytest.mark.slow


def test_heuristic_weights_lever_trains_an_adapter_that_raises_the_test_score(
    yes_task: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    result = sia(
        "run",
        "--task-dir",
        str(yes_task),
        "--backend",
        "heuristic",
        "--task-model",
        str(tiny_dir),
        "--lora-rank",
        "8",
        "--lora-alpha",
        "16",
        "--lora-lr",
        "0.01",
        "--max-gen",
        "2",
        "--run-id",
        "w",
        "--runs-dir",
        str(runs),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    state = json.loads((runs / "run_w" / "run.json").read_text())
    gen1, gen2 = state["generations"]
    assert gen1["lever"] == "harness" and gen2["lever"] == "weights"
    record = json.loads((runs / "run_w" / "gen_1" / "generation.json").read_text())
    assert record["reward_shape"]["label"] == "sparse"  # the base model never says yes
    assert gen2["algorithm"] == record["reward_shape"]["ranking"][0] == "entropic"
    assert gen2["score"] > gen1["score"] and state["incumbent"] == 2
    assert gen2["test_score"] > gen1["test_score"]
    adapter = runs / "run_w" / "gen_2" / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").is_file()
    training = json.loads((adapter / "training.json").read_text())
    # the heuristic's plan for sparse rewards: more, shorter sample-then-train rounds
    assert training["algorithm"] == "entropic" and len(training["rounds"]) == 4
    assert training["rounds"][0]["batch"]["samples"] > 0
    decision = json.loads((runs / "run_w" / "gen_2" / "decision.json").read_text())
    assert "sparse" in decision["rationale"]

    # A standard PEFT directory: plain transformers + peft load it and give the answers
    # that the served policy gave during generation 2's selection run.
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), adapter)
    tokenizer = tiny_tokenizer()
    view = runs / "run_w" / "views" / "selection" / "data" / "public" / "test.csv"
    questions = {r["id"]: r["question"] for r in csv.DictReader(view.open())}
    served = list(csv.DictReader((runs / "run_w" / "gen_2" / "predictions.csv").open()))
    assert "yes" in {row["answer"] for row in served}
    for row in served:
        ids = torch.tensor([tokenizer(questions[row["id"]])["input_ids"]])
        with torch.no_grad():
            token = model(input_ids=ids).logits[0, -1].argmax().item()
        # The harness strips its answer; a newline is the stop token, served as "".
        assert tokenizer.convert_ids_to_tokens(token).strip() == row["answer"]


def test_build_batch_groups_calls_by_item_with_each_runs_reward(tmp_path: Path) -> None:
    def call(item: str, completion: list[int]) -> str:
        extra = {
            "prompt_ids": [1, 2],
            "completion_ids": completion,
            "logprobs": [-0.5],
            "temperature": 1.0,
        }
        return json.dumps({"status": "ok", "item_id": item, "extra": extra})

    runs = []
    for run, (reward_a, reward_b) in enumerate([(1.0, 0.0), (0.0, 0.0)]):
        path = tmp_path / f"calls{run}.jsonl"
        path.write_text(
            "\n".join(
                [
                    call("a", [5]),
                    call("a", [6]),
                    call("b", [7]),
                    json.dumps({"status": "refused", "item_id": "a"}),
                    call("stranger", [8]),
                ]
            )
            + "\n"
        )
        runs.append(
            (
                path,
                Evaluation(
                    score=0.5,
                    items=[ItemResult("a", "x", reward_a), ItemResult("b", "x", reward_b)],
                ),
            )
        )
    batch = build_batch(runs)
    assert [g.item_id for g in batch.groups] == ["a", "b"]
    group: Group = batch.groups[0]
    assert len(group.samples) == 4  # two calls in each of two runs
    assert group.run_rewards == {0: 1.0, 1: 0.0}
    assert group.samples[0] == Sample([1, 2], [5], [-0.5], 1.0, 0, 1.0)


def test_a_batch_does_not_depend_on_which_run_got_which_draw(tmp_path: Path) -> None:
    # The K rollouts send an item the same prompt; which of them got which seeded draw
    # follows thread timing. The batch a trainer sees must be the same either way.
    def write(name: str, completions: dict[str, list[list[int]]]) -> Path:
        path = tmp_path / name
        lines = [
            json.dumps({"status": "ok", "item_id": item, "extra": {
                "prompt_ids": [1, 2, k], "completion_ids": c, "logprobs": [-0.1] * len(c)}})
            for item, calls in completions.items() for k, c in enumerate(calls)
        ]  # fmt: skip
        path.write_text("\n".join(lines) + "\n")
        return path

    def evaluation(a: float, b: float) -> Evaluation:
        return Evaluation(score=0.5, items=[ItemResult("a", "x", a), ItemResult("b", "x", b)])

    first = (write("r0.jsonl", {"a": [[9], [4, 4]], "b": [[3]]}), evaluation(0.0, 1.0))
    second = (write("r1.jsonl", {"a": [[5], [4]], "b": [[7]]}), evaluation(1.0, 0.0))
    one, other = build_batch([first, second]), build_batch([second, first])
    assert one == other
    # ordered by what each run said; each run's calls stay together, in their order
    a = one.groups[0]
    assert [s.completion_ids for s in a.samples] == [[5], [4], [9], [4, 4]]
    assert [s.run for s in a.samples] == [0, 0, 1, 1] and a.run_rewards == {0: 1.0, 1: 0.0}
    assert one.groups[1].run_rewards == {0: 1.0, 1: 0.0}  # [3] before [7]


def test_a_decision_has_a_rollout_part_and_an_algorithm_part() -> None:
    from sia_core import plugins
    from sia_core.options import OptionError
    from sia_core.weights.plan import plan_for
    from sia_core.weights.rl import RLConfig

    grpo = plugins.rl_algorithm("grpo")
    plan = plan_for(
        {"rollout": {"k": 4, "temperature": 0.7}, "algorithm": {"kl_beta": 0.1}},
        "grpo",
        grpo.config,
    )
    assert (plan.rollout.k, plan.rollout.temperature, plan.rollout.rounds) == (4, 0.7, 2)
    # parsed once, into the algorithm's own typed config, defaults filled
    assert type(plan.config) is grpo.config and isinstance(plan.config, RLConfig)
    assert plan.config.kl_beta == 0.1 and plan.config.epochs == 1
    refused = {
        "flat keys": ({"k": 4}, "'k' is neither"),
        "bool for int": ({"rollout": {"k": True}}, "k must be int"),
        "out of bounds": ({"rollout": {"k": 1}}, "k must be ≥ 2"),
        "unknown option": ({"algorithm": {"beta": 1}}, "grpo has no option 'beta'"),
        "string for float": ({"algorithm": {"kl_beta": "0.1"}}, "kl_beta must be float"),
    }
    for why, (hyperparameters, message) in refused.items():
        with pytest.raises(OptionError, match=message):
            plan_for(hyperparameters, "grpo", grpo.config)
            pytest.fail(why)
    # Every field documents itself: help text, default and bounds.
    for spec in plugins.rl_algorithms():
        for option in spec.options():
            assert option.help, (spec.name, option.name)


def test_decision_options_are_typed_and_checked_before_any_rollout(
    yes_task: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    """A float round count and a misspelt algorithm option fail their generation before
    anything is sampled, and the run goes on; entropic's own temperature reaches the
    trainer while the rollout's sampling temperature is a separate setting."""
    script = tmp_path / "script"
    decisions = {
        2: {"rollout": {"rounds": 2.0}},
        3: {"algorithm": {"temperatur": 0.5}},
        4: {
            "rollout": {"k": 2, "items": 4, "rounds": 1, "temperature": 0.7},
            "algorithm": {"temperature": 0.05},
        },
    }
    for number, hyperparameters in decisions.items():
        gen = script / f"gen_{number}"
        gen.mkdir(parents=True)
        (gen / "target_agent.py").write_text(AGENT)
        (gen / "decision.json").write_text(
            json.dumps(
                {
                    "lever": "weights",
                    "algorithm": "entropic",
                    "rationale": "test",
                    "hyperparameters": hyperparameters,
                }
            )
        )
    runs = tmp_path / "runs"
    result = sia(
        "run",
        "--task-dir",
        str(yes_task),
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={script}",
        "--task-model",
        str(tiny_dir),
        "--lora-rank",
        "8",
        "--max-gen",
        "4",
        "--run-id",
        "h",
        "--runs-dir",
        str(runs),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    state = json.loads((runs / "run_h" / "run.json").read_text())
    assert state["status"] == "finished"
    gens = state["generations"]
    assert [g["status"] for g in gens] == ["ok", "failed", "failed", "ok"]
    assert "rollout: rounds must be int, got 2.0" in gens[1]["error"]
    assert "entropic has no option 'temperatur'" in gens[2]["error"]
    for number in (2, 3):
        assert not (runs / "run_h" / f"gen_{number}" / "rollouts").exists()
    training = json.loads((runs / "run_h" / "gen_4" / "adapter" / "training.json").read_text())
    assert training["plan"]["temperature"] == 0.7
    assert training["config"]["temperature"] == 0.05
    assert training["rounds"][0]["metrics"]["weight_temperature"] == 0.05
    calls = [
        json.loads(line)
        for path in (runs / "run_h" / "gen_4" / "rollouts").rglob("calls.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert calls and {c["extra"]["temperature"] for c in calls} == {0.7}


def test_loading_and_swapping_the_policy_keeps_the_console_sias(
    tiny_dir: Path, tmp_path: Path
) -> None:
    # In a process of its own, as under `sia run` (pytest would capture the warnings).
    # Whether transformers or peft warn while loading or swapping changes from release to
    # release (peft 0.22 stopped), so the script adds the three kinds of noise they make
    # (a Python warning, a library logger's record, bytes on fd 2) to both steps: each must
    # reach the run's log and none the console, whatever the installed versions say.
    script = (
        "import logging, os, sys, warnings\n"
        "from pathlib import Path\n"
        "from sia_core.progress import QuietReporter\n"
        "from sia_core.gateway.serving import TaskModel\n"
        "from sia_core.policy.local import LocalPolicy\n"
        "def noisy(step):\n"
        "    warnings.warn(f'{step} FutureWarning from a library', FutureWarning)\n"
        "    logging.getLogger('peft').warning(f'{step} peft logger record')\n"
        "    os.write(2, f'{step} bytes on fd 2\\n'.encode())\n"
        "load, use = LocalPolicy.load.__func__, LocalPolicy.use_adapter\n"
        "def loud_load(cls, *args, **kwargs):\n"
        "    noisy('load')\n"
        "    return load(cls, *args, **kwargs)\n"
        "def loud_use(self, adapter):\n"
        "    noisy('swap')\n"
        "    return use(self, adapter)\n"
        "LocalPolicy.load = classmethod(loud_load)\n"
        "LocalPolicy.use_adapter = loud_use\n"
        "tmp = Path(sys.argv[2])\n"
        "model = TaskModel(sys.argv[1], None, {'rank': 4, 'alpha': 8}, 0, tmp / 'sia.log')\n"
        "model.serve(None, QuietReporter())\n"
        "model.policy.save_adapter(tmp / 'adapter')\n"
        "model.serve(tmp / 'adapter', QuietReporter())  # peft re-wraps the model here\n"
        "model.serve(None, QuietReporter())\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", script, str(tiny_dir), str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    log = (tmp_path / "sia.log").read_text()
    for step in ("load", "swap"):
        for noise in ("FutureWarning from a library", "peft logger record", "bytes on fd 2"):
            assert f"{step} {noise}" in log, log  # kept, in the run's log
    assert log.count("swap bytes on fd 2") == 2  # both swaps: to the adapter and back


def test_weights_trained_but_not_kept_do_not_leak_into_the_next_generation(
    tiny_dir: Path, tmp_path: Path
) -> None:
    # A weights generation (or candidate) trains the served policy in place; when it is
    # not kept, the next one serves its parent's adapter again and must get exactly that.
    from sia_core.gateway.serving import TaskModel
    from sia_core.progress import QuietReporter

    model = TaskModel(str(tiny_dir), None, {"rank": 4, "alpha": 8}, 0, tmp_path / "sia.log")
    model.serve(None, QuietReporter())
    fresh = lora_b(model.policy)
    train_in_place(model.policy)
    assert lora_b(model.policy) != fresh  # it trained
    model.serve(None, QuietReporter())  # the parent (no adapter) again
    assert lora_b(model.policy) == fresh


def test_trials_score_the_parents_adapter_not_weights_left_by_a_child_not_kept(
    tiny_loop: Any, tmp_path: Path
) -> None:
    # After a weights child that was not kept, the policy still holds its trained weights;
    # the next child's trials (the knob search's selection and demo-row runs) must score
    # the parent's adapter, which the child itself is evaluated with.
    from sia_core.execution.trials import TrialRunner
    from sia_core.progress import QuietReporter
    from sia_core.tasks.splits import selection_view

    loop = tiny_loop
    serving = loop.executor.serving
    serving.serve(None, QuietReporter())
    train_in_place(serving.policy)
    parent = tmp_path / "parent_adapter"  # the parent generation's adapter
    serving.policy.save_adapter(parent)
    serving.serve(parent, QuietReporter())
    kept = lora_b(serving.policy)
    harness = tmp_path / "target_agent.py"
    harness.write_text(AGENT)
    selection = selection_view(loop.task, tmp_path / "views")
    runner = TrialRunner(loop.executor, selection, 3, tmp_path / "gen", {}, adapter=parent)
    with (selection.public_dir / "train.csv").open() as fh:
        rows = [row["id"] for row in csv.DictReader(fh)][:3]
    trials: list[Callable[[], Any]] = [
        lambda: runner.as_selection_trial()(harness).ok,
        lambda: len(runner.as_rows_trial()(harness, rows)) == 3,
        lambda: runner.as_trial()(harness, 3).ok,
    ]
    for trial in trials:
        train_in_place(serving.policy)
        assert serving.policy.trained and lora_b(serving.policy) != kept
        assert trial()  # it ran, and on the parent's adapter:
        assert not serving.policy.trained and lora_b(serving.policy) == kept
        assert serving.policy.adapter == parent


def lora_b(policy: Any) -> dict[str, list[float]]:
    return {
        n: p.detach().flatten().tolist()
        for n, p in policy.model.named_parameters()
        if "lora_B" in n
    }


def train_in_place(policy: Any) -> None:
    """One step of best-of-n on the policy's own samples, as a weights child does."""
    from sia_core import plugins
    from sia_core.policy.local import SamplingParams
    from sia_core.testing.tiny import PROMPTS
    from sia_core.weights.rl import RLBatch

    prompts = [policy.prompt_ids([{"role": "user", "content": q}]) for q in PROMPTS]
    outputs = policy.sample(prompts, SamplingParams(temperature=1.0, max_tokens=2))
    samples = [
        Sample(o.prompt_ids, o.completion_ids, o.logprobs, 1.0, i, 1.0)
        for i, o in enumerate(outputs)
    ]
    batch = RLBatch([Group(item_id=f"i{s.run}", samples=[s]) for s in samples])
    spec = next(s for s in plugins.rl_algorithms() if s.name == "bon")
    policy.train(spec.name, spec.trainer, batch, spec.config(), seed=0)


def test_a_probe_reads_only_the_calls_the_gateway_logged_in_its_own_run(
    tiny_loop: Any, tmp_path: Path
) -> None:
    # The knob search tells a setting a scored one's score when their probe calls match,
    # so the calls must be the gateway's record of this run only: not a calls.jsonl the
    # harness forges in its working folder, and not a killed run's calls left in the same
    # folder (a resumed run reuses it, and the gateway appends).
    from sia_core.execution.trials import TrialRunner
    from sia_core.harness.request_digest import requests_digest
    from sia_core.tasks.splits import selection_view

    loop = tiny_loop
    forged = {"item_id": "forged", "request": {"messages": [{"role": "user", "content": "x"}]}}
    harness = tmp_path / "target_agent.py"
    harness.write_text(
        AGENT
        + "import json\n"
        + "with open(os.path.join(a.working_dir, 'calls.jsonl'), 'w') as fh:\n"
        + f"    fh.write(json.dumps({forged!r}) + '\\n')\n"
    )
    selection = selection_view(loop.task, tmp_path / "views")
    runner = TrialRunner(loop.executor, selection, 2, tmp_path / "gen", {})
    with (selection.public_dir / "train.csv").open() as fh:
        rows = [row["id"] for row in csv.DictReader(fh)][:3]
    base = tmp_path / "gen" / "trials" / "requests_1"
    first = runner.on_requests(base, harness, rows)
    again = runner.on_requests(base, harness, rows)
    assert first is not None and again is not None
    for probe in (first, again):
        assert sorted(c["item_id"] for c in probe.calls) == sorted(rows)
        assert set(probe.rewards) == set(rows)
    assert requests_digest(first.calls, first.rewards) == requests_digest(
        again.calls, again.rewards
    )
    # The harness did write its forgery; the sandbox dropped it as a name sia keeps.
    record = json.loads((base / "out" / "agent_execution.json").read_text())
    assert "calls.jsonl" in record["sandbox"]["dropped_outputs"]
