"""Several candidates per generation, the keep rules, parents from the archive, and
`sia eval`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sia_core.generation_record import GenerationRecord
from sia_core.loop.keep_rule import decide, mcnemar_one_sided
from sia_core.loop.run_dir import archive_parent
from sia_core.run_layout import Salt, derived_seed
from tests.conftest import sia
from tests.test_loop import run_json, tree_digest


def candidates_script(root: Path, task_dir: Path, replay_dir: Path) -> Path:
    """Generation 2 as three candidates: a worse harness, the best one, the reference."""
    gen = root / "gen_2" / "candidates"
    shutil.copytree(replay_dir / "gen_3", gen / "1")  # worse than the reference; sleeps 2 s
    shutil.copytree(replay_dir / "gen_2", gen / "2")  # the best
    (gen / "3").mkdir()
    shutil.copy2(
        task_dir / "reference" / "reference_target_agent.py", gen / "3" / "target_agent.py"
    )
    (gen / "3" / "improvement.md").write_text("the reference again\n")
    return root


# -- the keep rule ----------------------------------------------------------------------


def test_the_default_rule_keeps_no_plus_one_item_noise() -> None:
    """`sia run` with no --keep-rule: a child one item better on 100 (binary) or a hair
    better on graded rewards, its interval spanning 0, is not kept."""
    from sia_core.loop.run_config import RunConfig

    rule = RunConfig().keep_rule
    assert rule == "paired"
    incumbent = {f"i{k}": float(k < 50) for k in range(100)}
    verdict = decide(rule, dict(incumbent, i50=1.0), incumbent, 0.51, 0.50, "max")
    assert not verdict.kept and verdict.interval[0] <= 0 <= verdict.interval[1]
    graded = {f"i{k}": 0.5 + 0.01 * (k % 7) for k in range(100)}
    nudged = {k: v + (0.01 if k == "i3" else 0.0) for k, v in graded.items()}
    verdict = decide(rule, nudged, graded, 0.0, 0.0, "max")
    assert not verdict.kept and verdict.interval[0] <= 0 <= verdict.interval[1]


def test_one_point_on_40_binary_items_is_kept_raw_but_not_paired() -> None:
    incumbent = {f"i{k}": float(k < 20) for k in range(40)}  # 20/40
    candidate = dict(incumbent, i20=1.0)  # 21/40: one more item right
    args = (candidate, incumbent, 21 / 40, 20 / 40, "max")
    raw, paired = decide("raw", *args), decide("paired", *args)
    assert raw.kept and not paired.kept
    assert paired.p_value == pytest.approx(0.5)  # one discordant item: a coin flip
    assert paired.difference == pytest.approx(1 / 40)
    low, high = paired.interval
    assert low <= 0 <= high
    # Clearly better: 12 items gained, none lost.
    strong = dict(incumbent, **{f"i{k}": 1.0 for k in range(20, 32)})
    verdict = decide("paired", strong, incumbent, 32 / 40, 20 / 40, "max")
    assert verdict.kept and verdict.p_value == pytest.approx(0.5**12)
    assert verdict.interval[0] > 0


def test_paired_rule_on_continuous_rewards_and_a_metric_to_minimise() -> None:
    """A metric to minimise (scrna-denoise's mse) with item rewards that are, as always,
    higher-is-better (minus each cell's error): a lower score with higher rewards is
    kept; noise is not; a lower score whose items got worse is not."""
    base = {f"i{k}": -(1.0 + (k % 7) / 10) for k in range(60)}
    better = {k: v + 0.3 for k, v in base.items()}  # every cell's error 0.3 lower
    verdict = decide("paired", better, base, 1.0, 1.3, "min", seed=3)
    assert verdict.kept and verdict.difference == pytest.approx(0.3)
    assert verdict.interval[0] > 0
    noisy = {k: v + (0.05 if i % 2 else -0.05) for i, (k, v) in enumerate(base.items())}
    assert not decide("paired", noisy, base, 1.299, 1.3, "min", seed=3).kept
    worse = {k: v - 0.3 for k, v in base.items()}
    assert not decide("paired", worse, base, 1.0, 1.3, "min", seed=3).kept


def test_mcnemar_one_sided_matches_the_binomial_tail() -> None:
    assert mcnemar_one_sided(0, 0) == 1.0
    assert mcnemar_one_sided(5, 0) == pytest.approx(1 / 32)
    assert mcnemar_one_sided(6, 2) == pytest.approx((28 + 8 + 1) / 256)


def test_archive_parents_are_weighted_by_rank() -> None:
    records = [
        GenerationRecord(number=1, started=0, status="ok", score=0.5),
        GenerationRecord(number=2, started=0, status="ok", score=0.9),
        GenerationRecord(number=3, started=0, status="failed"),
        GenerationRecord(number=4, started=0, status="ok", score=0.7),
    ]
    drawn = [archive_parent(records, "max", seed).number for seed in range(3000)]
    share = {n: drawn.count(n) / len(drawn) for n in (1, 2, 4)}
    assert 3 not in drawn  # a failed generation is no parent
    # Weights 1, 1/2, 1/3 by rank: 6/11, 3/11, 2/11.
    assert share[2] == pytest.approx(6 / 11, abs=0.03)
    assert share[4] == pytest.approx(3 / 11, abs=0.03)
    assert share[1] == pytest.approx(2 / 11, abs=0.03)


# -- end to end -------------------------------------------------------------------------


@pytest.mark.slow
def test_three_candidates_the_second_best_is_kept(task_dir, replay_dir, tmp_path) -> None:
    script = candidates_script(tmp_path / "script", task_dir, replay_dir)
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(task_dir), "--backend", "scripted", "--backend-opt",
        f"script={script}", "--run-id", "c", "--runs-dir", str(runs), "--max-gen", "2",
        "--candidates", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    gen2 = runs / "run_c" / "gen_2"
    record = json.loads((gen2 / "generation.json").read_text())
    listed = record["candidates"]
    assert [c["candidate"] for c in listed] == [1, 2, 3]
    assert all(c["status"] == "ok" and c["lever"] == "harness" for c in listed)
    scores = [c["score"] for c in listed]
    assert scores[1] > scores[2] > scores[0]
    assert record["candidate"] == 2 and record["score"] == scores[1] and record["incumbent"]
    assert record["keep"]["kept"] and record["keep"]["difference"] > 0
    # gen_2 holds the chosen candidate's files, in the SIA layout; each candidate its own.
    chosen = (script / "gen_2" / "candidates" / "2" / "target_agent.py").read_text()
    assert (gen2 / "target_agent.py").read_text() == chosen
    assert (gen2 / "test" / "results.json").is_file()
    for k in (1, 2, 3):
        for name in ("target_agent.py", "results.json", "agent_execution.json", "decision.json"):
            assert (gen2 / "candidates" / str(k) / name).is_file(), (k, name)
    execution = (gen2 / "agent_execution.json").read_text()
    assert ".tmp-" not in execution and "candidates_gen_" not in execution
    assert not list((runs / "run_c").glob("candidates_gen_*"))
    assert "gen 2 candidate 2: ok" in result.stdout and "← chosen" in result.stdout
    state = run_json(runs, "c")
    assert state["incumbent"] == 2 and state["config"]["candidates"] == 3
    assert "candidates" in record["usage"]  # what the two not chosen spent


@pytest.mark.slow
def test_paired_rule_in_a_run_reports_the_difference(task_dir, replay_dir, tmp_path) -> None:
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(task_dir), "--backend", "scripted", "--backend-opt",
        f"script={replay_dir}", "--run-id", "p", "--runs-dir", str(runs), "--max-gen", "3",
        "--keep-rule", "paired",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    gens = [
        json.loads((runs / "run_p" / f"gen_{n}" / "generation.json").read_text()) for n in (2, 3)
    ]
    for gen in gens:
        keep = gen["keep"]
        assert keep["rule"] == "paired" and keep["items"] == gen["items"]
        assert keep["interval"][0] <= keep["difference"] <= keep["interval"][1]
    assert gens[0]["keep"]["kept"] and gens[0]["incumbent"]  # 0.96 vs 0.58 on 24 items
    assert not gens[1]["keep"]["kept"] and gens[1]["keep"]["difference"] < 0
    assert "gen 2: vs incumbent +" in result.stdout and "→ kept (paired (McNemar" in result.stdout
    assert "keep rule: paired" in result.stdout


@pytest.mark.slow
def test_parent_archive_builds_on_a_non_incumbent(task_dir, replay_dir, tmp_path) -> None:
    script = tmp_path / "script"
    shutil.copytree(replay_dir, script)
    shutil.copytree(replay_dir / "gen_2", script / "gen_3", dirs_exist_ok=True)
    # Generation 3 is drawn from {2 (best), 1}; pick the run seed whose draw is 1.
    ranked = [
        GenerationRecord(number=1, started=0, status="ok", score=0.5),
        GenerationRecord(number=2, started=0, status="ok", score=0.9),
    ]
    seed = next(
        s
        for s in range(100)
        if archive_parent(ranked, "max", derived_seed(s, 3, Salt.ARCHIVE_PARENT)).number == 1
    )
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(task_dir), "--backend", "scripted", "--backend-opt",
        f"script={script}", "--run-id", "a", "--runs-dir", str(runs), "--max-gen", "3",
        "--parent", "archive", "--seed", str(seed),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = runs / "run_a"
    gens = run_json(runs, "a")["generations"]
    assert gens[1]["incumbent"] and gens[1]["score"] > gens[0]["score"]
    gen3 = json.loads((run / "gen_3" / "generation.json").read_text())
    assert gen3["parent"] == 1  # not the incumbent (2)
    assert json.loads((run / "gen_3" / "feedback_context.json").read_text())["parent"] == 1
    # The keep rule still compares with the incumbent, not with the parent.
    assert not gen3["incumbent"]


@pytest.mark.slow
def test_kill_9_among_candidates_loses_no_finished_candidate(
    task_dir, replay_dir, tmp_path
) -> None:
    script = tmp_path / "script"
    gen = script / "gen_2" / "candidates"
    shutil.copytree(replay_dir / "gen_2", gen / "1")
    shutil.copytree(replay_dir / "gen_3", gen / "2")  # sleeps 2 s: killed in there
    shutil.copytree(replay_dir / "gen_2", gen / "3")
    runs = tmp_path / "runs"
    args = [
        "run", "--task-dir", str(task_dir), "--backend", "scripted", "--backend-opt",
        f"script={script}", "--run-id", "k", "--runs-dir", str(runs), "--max-gen", "2",
        "--candidates", "3",
    ]  # fmt: skip
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "sia"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = runs / "run_k" / "candidates_gen_2"
    deadline = time.monotonic() + 120
    while not list(staging.glob(".tmp-2-*/target_agent.py")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    first = tree_digest(staging / "1")
    started = json.loads((staging / "1" / "generation.json").read_text())["started"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (runs / "run_k" / "gen_2").exists()
    result = sia(*args[:-4], "--resume", "--max-gen", "2")
    assert result.returncode == 0, result.stderr
    gen2 = runs / "run_k" / "gen_2"
    assert tree_digest(gen2 / "candidates" / "1") == first  # kept as it was, not re-run
    record = json.loads((gen2 / "generation.json").read_text())
    assert [c["candidate"] for c in record["candidates"]] == [1, 2, 3]
    again = json.loads((gen2 / "candidates" / "1" / "generation.json").read_text())
    assert again["started"] == started
    assert "candidate 1/3" not in result.stdout and "candidate 2/3" in result.stdout


@pytest.mark.slow
def test_heuristic_candidates_and_eval_reproduce_a_local_model_score(
    yes_task, tiny_dir, tmp_path
) -> None:
    runs = tmp_path / "runs"
    result = sia(
        "run", "--task-dir", str(yes_task), "--backend", "heuristic", "--task-model",
        str(tiny_dir), "--lora-lr", "0.01", "--max-gen", "2", "--candidates", "2",
        "--run-id", "h", "--runs-dir", str(runs),
    )  # fmt: skip
    assert result.returncode in (0, 4), result.stderr
    run = runs / "run_h"
    gen1 = json.loads((run / "gen_1" / "generation.json").read_text())
    record = json.loads((run / "gen_2" / "generation.json").read_text())
    ranking = gen1["reward_shape"]["ranking"]
    # The classifier's top two algorithms, one per candidate.
    assert [c["algorithm"] for c in record["candidates"]] == ranking[:2]
    trainings = [
        json.loads(
            (run / "gen_2" / "candidates" / str(k) / "adapter" / "training.json").read_text()
        )
        for k in (1, 2)
    ]
    # Candidate 2 trained its first round on candidate 1's rollouts (same parent, harness
    # and plan), and sampled its later rounds from its own adapter.
    first, *later = trainings[1]["rounds"]
    assert first["rollouts_of_candidate"] == 1 and later
    assert not any("rollouts_of_candidate" in r for r in later)
    assert first["batch"] == trainings[0]["rounds"][0]["batch"]
    assert trainings[0]["rounds"][0]["metrics"] != first["metrics"]  # another algorithm
    own = run / "gen_2" / "candidates" / "2" / "rollouts"
    assert not (own / "round_0").exists() and (own / "round_1" / "run_0").is_dir()
    # What the candidate not chosen spent is in the generation's and the run's totals.
    other = next(c for c in record["candidates"] if c["candidate"] != record["candidate"])
    spent = record["usage"]["candidates"]
    assert spent["prompt_tokens"] + spent["completion_tokens"] == other["tokens"] > 0
    state = run_json(runs, "h")
    assert sum(state["tokens"].values()) == sum(
        u["prompt_tokens"] + u["completion_tokens"]
        for n in (1, 2)
        for u in json.loads((run / f"gen_{n}" / "generation.json").read_text())["usage"].values()
    )
    scores = [c["score"] for c in record["candidates"]]
    assert 0 < min(scores) < 1, scores  # a score that greedy decoding could drift from
    # `--gen 2` with no candidate (the chosen one's harness and adapter) is the --exact
    # call below; each candidate's own score is checked here.
    assert record["score"] == scores[record["candidate"] - 1]
    for gen, candidate, score in (
        (1, None, gen1["score"]),
        (2, 1, scores[0]),
        (2, 2, scores[1]),
    ):
        which = ["--candidate", str(candidate)] if candidate else []
        again = sia("eval", str(run), "--gen", str(gen), *which, "--repeat", "2")
        assert again.returncode == 0, again.stderr
        lines = [line for line in again.stdout.splitlines() if line.startswith("repeat")]
        assert lines == [f"repeat 1: {score:.4f}", f"repeat 2: {score:.4f}"], (gen, candidate)
        assert f"mean {score:.4f}, sd 0.0000 over 2" in again.stdout
        assert f"recorded in the run: {score:.4f}" in again.stdout
    # --exact: every greedy call sampled alone, so repeats agree by construction.
    exact = sia("eval", str(run), "--gen", "2", "--exact", "--repeat", "2")
    assert exact.returncode == 0, exact.stderr
    assert "sd 0.0000 over 2" in exact.stdout
    assert f"recorded in the run: {record['score']:.4f}" in exact.stdout
    assert len(list((run / "evals").glob("gen_2-selection-*/rep_2/results.json"))) == 1
    assert len(list((run / "evals").glob("gen_2-candidate_1-selection-*/rep_2"))) == 1
    missing = sia("eval", str(run), "--gen", "9")
    assert missing.returncode == 2 and "no whole generation 9" in missing.stderr
