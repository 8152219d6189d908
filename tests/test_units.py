"""Unit tests: reward shapes, results parsing, atomic writes, decisions, backends."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from sia_core.backends.contract import BackendCannotAct, Decision, FeedbackContext, GenerationView
from sia_core.backends.heuristic import HeuristicBackend
from sia_core.backends.scripted import ScriptedBackend
from sia_core.errors import SiaError
from sia_core.execution.evaluation import MetricKeyError, parse_results
from sia_core.specs import AlgorithmInfo
from sia_core.store import atomic_dir, atomic_write_json, clean_partial, read_json
from sia_core.tasks.task import load_task_dir
from sia_core.weights.reward_shape import classify, reward_stats

GRPO = AlgorithmInfo("grpo", "group-normalised", ("binary", "dense"), False)
PPO = AlgorithmInfo("ppo", "value head + GAE", ("dense",), True)
ENTROPIC = AlgorithmInfo("entropic", "softmax weights", ("sparse", "heavy-tailed"), False)
ALL = [PPO, GRPO, ENTROPIC]


def test_binary_rewards_with_fair_success_rank_grpo_first() -> None:
    report = classify([1.0] * 58 + [0.0] * 42, ALL)
    assert report.label == "binary"
    assert report.ranking == ["grpo", "entropic", "ppo"]
    assert report.stats["success_rate"] == 0.58 and report.stats["n"] == 100


def test_mostly_failing_rewards_are_sparse_and_rank_entropic_first() -> None:
    report = classify([1.0] * 10 + [0.0] * 90, ALL)
    assert report.label == "sparse"
    assert report.ranking[0] == "entropic"
    assert "10% success" in report.explanation


def test_a_measured_order_leads_for_its_shape_and_declarations_rank_the_rest() -> None:
    bon = AlgorithmInfo("bon", "cloning", ("sparse", "binary"), False)
    dpo = AlgorithmInfo("dpo", "pairs", ("dense", "heavy-tailed", "binary"), False)
    toy = AlgorithmInfo("a-toy", "unmeasured", ("sparse",), False)
    sparse = [1.0] * 3 + [0.0] * 97
    report = classify(sparse, [toy, dpo, bon, *ALL])
    # measured on sparse rewards (docs): entropic, bon, dpo, grpo, ppo; then the rest
    assert report.ranking == ["entropic", "bon", "dpo", "grpo", "ppo", "a-toy"]
    assert report.reasons["entropic"] == "measured best for sparse rewards"
    # among what is installed: bon leads when entropic is not there
    partial = classify(sparse, [dpo, bon, toy])
    assert partial.ranking == ["bon", "dpo", "a-toy"]
    assert partial.reasons["bon"] == "measured best for sparse rewards"
    # no measurement for binary rewards: declarations alone
    assert classify([1.0] * 50 + [0.0] * 50, [toy, dpo, bon, *ALL]).ranking[0] == "grpo"


def test_continuous_rewards_dense_or_heavy_tailed() -> None:
    dense = classify([i / 100 for i in range(100)], ALL)
    assert dense.label == "dense" and dense.ranking[:2] == ["ppo", "grpo"]
    skewed = classify([0.01 * (i % 5) for i in range(95)] + [5.0, 6.0, 8.0, 9.0, 10.0], ALL)
    assert skewed.label == "heavy-tailed" and skewed.stats["skewness"] > 1
    assert skewed.ranking[0] == "entropic"


@pytest.mark.parametrize(
    ("rewards", "label"),
    [([], "empty"), ([1.0] * 5, "saturated"), ([0.0] * 5, "sparse"), ([0.5] * 5, "dense")],
)
def test_degenerate_rewards_do_not_raise(rewards: list[float], label: str) -> None:
    assert classify(rewards, ALL).label == label


def test_reward_stats_values() -> None:
    stats = reward_stats([0.0, 1.0, 1.0, 1.0])
    assert stats["mean"] == 0.75 and stats["median"] == 1.0 and stats["zero_rate"] == 0.25
    assert stats["skewness"] == pytest.approx(-1.1547, abs=1e-3)


def test_results_in_sia_summary_form() -> None:
    data = {
        "summary": {"accuracy": 0.5, "n": 2},
        "items": [
            {"id": "a", "status": "correct"},
            {"id": "b", "status": "incorrect"},
            {"id": "c", "status": "partial", "reward": 0.25},
        ],
    }
    ev = parse_results(data, "accuracy")
    assert ev.score == 0.5 and ev.rewards == [1.0, 0.0, 0.25]
    assert [i.id for i in ev.items] == ["a", "b", "c"] and ev.summary == {"accuracy": 0.5, "n": 2}


def test_results_in_the_original_gpqa_form() -> None:
    data = {
        "accuracy": 0.5,
        "correct": 1,
        "details": [
            {"question_id": 7, "status": "correct", "is_correct": True},
            {"question_id": 8, "status": "missing", "is_correct": False},
        ],
    }
    ev = parse_results(data, "accuracy")
    assert ev.score == 0.5 and [(i.id, i.reward) for i in ev.items] == [("7", 1.0), ("8", 0.0)]


def test_results_without_the_metric() -> None:
    with pytest.raises(MetricKeyError, match="no numeric metric 'f1'.*accuracy"):
        parse_results({"summary": {"accuracy": 1.0}}, "f1")
    assert parse_results({"error": "no submission"}, "f1").error.startswith("results.json has")
    assert parse_results([1, 2], "f1").error == "results.json is not a JSON object"


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "gen_1"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("killed")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(final) as tmp:
        (tmp / "whole.txt").write_text("x")
    assert (final / "whole.txt").read_text() == "x"
    os.mkdir(tmp_path / ".tmp-gen_2-abc")  # as a kill -9 would leave it
    assert [p.name for p in clean_partial(tmp_path)] == [".tmp-gen_2-abc"]
    atomic_write_json(tmp_path / "run.json", {"a": 1})
    assert read_json(tmp_path / "run.json") == {"a": 1}


def test_decision_validation() -> None:
    assert Decision.from_dict({"lever": "weights", "algorithm": "grpo"}).algorithm == "grpo"
    with pytest.raises(ValueError, match="lever must be one of"):
        Decision.from_dict({"lever": "magic"})
    with pytest.raises(ValueError, match="needs an 'algorithm'"):
        Decision.from_dict({"lever": "both"})


def _feedback(
    task_dir: Path, tmp_path: Path, algorithms, weights: bool, calls: bool = True
) -> FeedbackContext:
    parent = GenerationView(1, tmp_path, "ok", 0.6, None, None)
    # the parent's harness called the model (a classical one would not)
    (tmp_path / "calls.jsonl").write_text('{"status": "ok"}\n' if calls else "")
    return FeedbackContext(
        task=load_task_dir(task_dir),
        out_dir=tmp_path,
        number=2,
        history=[parent],
        parent=parent,
        reward_report=classify([1.0] * 6 + [0.0] * 4, algorithms),
        algorithms=algorithms,
        weights_available=weights,
        meta_model=None,
    )


def test_heuristic_follows_the_classifier(task_dir: Path, tmp_path: Path) -> None:
    decision = HeuristicBackend().feedback(_feedback(task_dir, tmp_path, ALL, True))
    assert decision.lever == "weights" and decision.algorithm == "grpo"
    assert "binary" in decision.rationale and decision.hyperparameters == {}
    # Rare successes: more, shorter sample-then-train rounds (the measured plan).
    sparse = replace(
        _feedback(task_dir, tmp_path, ALL, True),
        reward_report=classify([1.0] * 2 + [0.0] * 98, ALL),
    )
    decision = HeuristicBackend().feedback(sparse)
    assert decision.algorithm == "entropic"
    assert decision.hyperparameters == {"rollout": {"rounds": 4}}
    assert "rollout plan: rounds 4" in decision.rationale
    # A rollout the user fixed wins over the shape's plan, and is checked before any work.
    small = HeuristicBackend.from_options({"items": "8", "k": "4", "rounds": "1"})
    decision = small.feedback(sparse)
    assert decision.hyperparameters == {"rollout": {"rounds": 1, "items": 8, "k": 4}}
    for bad, says in (({"k": "1"}, "k must be ≥ 2"), ({"items": "many"}, "use a number"),
                      ({"batch": "2"}, "got 'batch'")):  # fmt: skip
        with pytest.raises(SiaError, match=says):
            HeuristicBackend.from_options(bad)
    # Neither lever can be pulled: no knobs in the harness, and nothing to train.
    with pytest.raises(BackendCannotAct, match="no RL algorithm installed"):
        HeuristicBackend().feedback(_feedback(task_dir, tmp_path, [], True))
    with pytest.raises(BackendCannotAct, match="no open-weight task model"):
        HeuristicBackend().feedback(_feedback(task_dir, tmp_path, ALL, False))
    # a harness that never called the model: training its weights cannot move the score
    with pytest.raises(BackendCannotAct, match="a harness that makes no model call"):
        HeuristicBackend().feedback(_feedback(task_dir, tmp_path, ALL, True, calls=False))
    saturated = _feedback(task_dir, tmp_path, ALL, True)
    saturated = replace(saturated, reward_report=classify([1.0] * 10, ALL))
    with pytest.raises(BackendCannotAct, match="already gets the full reward"):
        HeuristicBackend().feedback(saturated)


def test_backend_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SiaError, match="has no option 'scrpt'"):
        ScriptedBackend.from_options({"scrpt": "x"})
    with pytest.raises(SiaError, match="does not exist"):
        ScriptedBackend.from_options({"script": str(tmp_path / "missing")})
    with pytest.raises(SiaError, match="takes the options levers, trials, probe, k, items"):
        HeuristicBackend.from_options({"x": "1"})
    with pytest.raises(SiaError, match="probe=maybe: use on or off"):
        HeuristicBackend.from_options({"probe": "maybe"})
    assert not HeuristicBackend.from_options({"probe": "off"}).probe
    with pytest.raises(SiaError, match="levers=all: use one of harness, weights, both"):
        HeuristicBackend.from_options({"levers": "all"})
    assert HeuristicBackend.from_options({"levers": "harness"}).levers == "harness"
    assert HeuristicBackend.from_options({}).levers == "both"


def test_a_generation_record_round_trips_and_keeps_what_it_does_not_know() -> None:
    from sia_core.generation_record import GenerationRecord

    older = {"number": 2, "started": 1.0, "status": "ok", "score": 0.5, "incumbent": True}
    record = GenerationRecord.from_dict({**older, "written_by_a_newer_sia": [{"k": 1}]})
    assert (record.number, record.score, record.incumbent, record.error) == (2, 0.5, True, None)
    assert record.extra == {"written_by_a_newer_sia": [{"k": 1}]}
    data = record.as_dict()
    assert data["written_by_a_newer_sia"] == [{"k": 1}] and data["test_score"] is None
    assert GenerationRecord.from_dict(data) == record
    record.add_usage("rollouts", {"calls": 2, "prompt_tokens": 10})
    record.add_usage("rollouts", {"calls": 1, "prompt_tokens": 5})
    assert record.usage["rollouts"] == {"calls": 3, "prompt_tokens": 15}


def test_loading_the_task_model_is_announced_and_a_first_conversion_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sia_core.gateway.serving import TaskModel
    from sia_core.policy.registry import needs_conversion
    from sia_core.progress import QuietReporter
    from sia_core.testing.yes_task import write_tiny_model

    monkeypatch.setenv("SIA_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert needs_conversion("gemma3-270m")  # nothing converted in this cache yet
    model = write_tiny_model(tmp_path / "tiny")
    assert not needs_conversion(str(model))  # a directory loads as it is
    reporter = QuietReporter()
    serving = TaskModel(str(model), None, {}, 0, tmp_path / "sia.log")
    serving.serve(None, reporter)
    assert reporter.messages == [f"loading task model {model}"]
