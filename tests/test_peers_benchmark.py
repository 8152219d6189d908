"""benchmarks/peers.py's reading of its own numbers: the goal lines the docs quote come
from these functions, so a wrong comparison would misreport a goal as met."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _peers() -> Any:
    spec = importlib.util.spec_from_file_location("peers", ROOT / "benchmarks" / "peers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up by name while the file runs.
    sys.modules["peers"] = module
    spec.loader.exec_module(module)
    return module


def _arm(rights: list[list[bool]], evals: int = 9) -> list[dict[str, Any]]:
    return [
        {"test": sum(r) / len(r), "evals": evals, "seconds": 1.0,
         "hits": {f"i{k}": hit for k, hit in enumerate(r)}}
        for r in rights
    ]  # fmt: skip


def test_harness_goals_name_the_seed_sia_is_below_and_whether_it_is_noise() -> None:
    peers = _peers()
    n = 100
    # Seed 7: sia right on 90, the 8-demo prompt on 92 (its 2 extra items): below, noise.
    # Seed 9: sia 90 against 60, the prompt right on none that sia misses: above.
    sia = _arm([[k < 90 for k in range(n)], [k < 90 for k in range(n)]])
    fixed = _arm([[k < 92 for k in range(n)], [k < 60 for k in range(n)]], evals=0)
    search = _arm([[k < 85 for k in range(n)], [k < 88 for k in range(n)]])
    results = {"sia": sia, "dspy-random-search": search, "fixed-8-demos": fixed}
    lines = peers.harness_goals(results, [7, 9])
    text = "\n".join(lines)
    assert (
        "mean 0.900 against dspy-random-search's 0.865 (met; sia's selection evaluations no more"
        in text
    )
    assert "spread 0.00 against 0.03 (met" in text
    assert "above fixed-8-demos on 1 of 2 seeds" in text
    assert "seed 7: 0.90 against 0.92, 0 / 2, p 0.500, not significant" in text
    assert "seed 9" not in text.split("not above on", 1)[1]

    # Below by 30 items with none the other way: significant, and said so.
    fixed[1] = _arm([[True] * n])[0]
    sia[1] = _arm([[k < 70 for k in range(n)]])[0]
    text = "\n".join(peers.harness_goals(results, [7, 9]))
    assert "seed 9: 0.70 against 1.00, 0 / 30, p < 0.001, significant" in text
    assert "spread 0.20 against 0.03 (not met" in text


def test_harness_goals_say_when_sia_used_more_evaluations() -> None:
    peers = _peers()
    sia = _arm([[True, False]], evals=12)
    search = _arm([[False, False]], evals=9)
    text = "\n".join(peers.harness_goals({"sia": sia, "dspy-random-search": search}, [0]))
    assert "selection evaluations MORE than its" in text


def test_weights_goals_check_every_round_for_time_and_score() -> None:
    peers = _peers()
    met = {"sia": {"held_out": [0.5, 0.8, 0.9], "seconds": [10.0, 20.0]},
           "trl": {"held_out": [0.5, 0.8, 0.85], "seconds": [50.0, 400.0]}}  # fmt: skip
    slow = {"sia": {"held_out": [0.5, 0.8, 0.9], "seconds": [10.0, 20.0]},
            "trl": {"held_out": [0.5, 0.7, 0.8], "seconds": [49.0, 400.0]}}  # fmt: skip
    lower = {"sia": {"held_out": [0.5, 0.8, 0.79], "seconds": [10.0, 20.0]},
             "trl": {"held_out": [0.5, 0.7, 0.8], "seconds": [90.0, 400.0]}}  # fmt: skip
    lines = peers.weights_goals([met, slow, lower], [3, 4, 5])
    assert lines[2] == "- seed 3: 5.0x, 20.0x (15.0x in all); +0.00, +0.05: met"
    assert lines[3].startswith("- seed 4: 4.9x, 20.0x") and lines[3].endswith("not met")
    assert lines[4].endswith("+0.10, -0.01: not met")
    assert lines[-1].endswith("met on 1 of 3 seeds")


def test_a_run_of_one_trainer_is_shown_and_never_read_as_met(tmp_path: Path) -> None:
    peers = _peers()
    alone = {"sia": {"held_out": [0.5, 0.9], "seconds": [10.0]}}
    both = {**alone, "trl": {"held_out": [0.5, 0.6], "seconds": [90.0]}}
    lines = peers.weights_table([alone, both], [1, 2], 1)
    assert "| 1 | TRL GRPOTrainer | not run | | |" in lines
    assert "| 1 | sia (sia_rl_grpo) | 0.50 → 0.90 | 10 | 10 |" in lines
    assert "- seed 1: only sia ran, nothing to compare in this run: not met" in lines
    assert lines[-1].endswith("met on 1 of 2 seeds")

    record = tmp_path / "sia-only.json"
    record.write_text(json.dumps({"args": {"weights_seeds": "[1]", "rounds": "1"},
                                  "weights": [alone]}))  # fmt: skip
    assert peers.read_records([record]).weights == [alone]


def test_from_json_reprints_merged_runs_with_their_seeds(tmp_path: Path) -> None:
    weights = {"sia": {"held_out": [0.5, 0.9], "seconds": [10.0]},
               "trl": {"held_out": [0.5, 0.8], "seconds": [60.0]}}  # fmt: skip
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    first.write_text(json.dumps({
        "args": {"seeds": "[3]", "weights_seeds": "[1, 2]", "rounds": "1"},
        "harness/sentiment": {"sia": _arm([[True, True]]), "fixed-8-demos": _arm([[True, False]])},
        "weights": [weights, weights],
    }))  # fmt: skip
    # A run stopped during its second weights seed: only the finished one is in it.
    second.write_text(json.dumps({"args": {"seeds": "[0]", "weights_seeds": "[6, 7]",
                                           "rounds": "1"},
                                  "weights": [weights], "weights_done": [6]}))  # fmt: skip
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--from-json", str(first),
         str(second)], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "| 3 | 1 / 0 (p 1.000) |" in out
    assert [line[:4] for line in out.splitlines() if "sia (sia_rl_grpo)" in line] == [
        "| 1 ", "| 2 ", "| 6 "]  # fmt: skip
    assert "met on 3 of 3 seeds" in out

    missing = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--from-json",
         str(tmp_path / "none.json")], capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 1
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    broken = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--from-json", str(garbled)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1
    assert "give the files that `peers.py --json` wrote" in broken.stderr
    assert missing.stderr.strip().splitlines() == [
        f"peers.py: no such file: {tmp_path / 'none.json'}; give the --json files of earlier runs"
    ]


def test_a_file_of_the_wrong_shape_is_named_before_any_table_is_drawn(tmp_path: Path) -> None:
    peers = _peers()
    lacking = tmp_path / "lacking.json"
    run = _arm([[True]])[0]
    del run["hits"]
    lacking.write_text(json.dumps({"args": {"seeds": "[0]"}, "harness/sentiment": {"sia": [run]}}))
    try:
        peers.read_records([lacking])
    except peers.RecordError as exc:
        assert str(exc).startswith(f"{lacking}: harness/sentiment arm sia lacks")
    else:
        raise AssertionError("a run without per-item hits was read")
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"args": {"weights_seeds": "[0]", "rounds": "1"},
                                   "weights": [{"sia": {"held_out": [0.5]}}]}))  # fmt: skip
    try:
        peers.read_records([weights])
    except peers.RecordError as exc:
        assert "a weights run lacks sia/trl held_out and seconds" in str(exc)
    else:
        raise AssertionError("a weights run whose sia arm lacks its seconds was read")

    # Shapes the tables would trip over: an arm short of a seed, an arm without sia's
    # items, a trainer with no score before its first round, a run of neither trainer.
    two = {"sia": _arm([[True], [False]]), "fixed-8-demos": _arm([[True]])}
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"args": {"seeds": "[0, 1]"}, "harness/sentiment": two}))
    other = _arm([[True]])[0]
    other["hits"] = {"elsewhere": True}
    apart = tmp_path / "apart.json"
    apart.write_text(json.dumps({"args": {"seeds": "[0]"}, "harness/sentiment": {
        "sia": _arm([[True]]), "fixed-8-demos": [other]}}))  # fmt: skip
    unscored = tmp_path / "unscored.json"
    unscored.write_text(json.dumps({"args": {"weights_seeds": "[0]", "rounds": "1"},
                                    "weights": [{"sia": {"held_out": [0.5], "seconds": [1.0]},
                                                 "trl": {"held_out": [0.5, 0.6],
                                                         "seconds": [9.0]}}]}))  # fmt: skip
    neither = tmp_path / "neither.json"
    neither.write_text(json.dumps({"args": {"weights_seeds": "[0]", "rounds": "1"},
                                   "weights": [{}]}))  # fmt: skip
    for path, said in ((short, "arm fixed-8-demos does not have one run per seed [0, 1]"),
                       (apart, "arm fixed-8-demos lacks hits on sia's items"),
                       (unscored, "held_out is not one longer than seconds"),
                       (neither, "a weights run lacks sia/trl held_out and seconds")):  # fmt: skip
        try:
            peers.read_records([path])
        except peers.RecordError as exc:
            assert said in str(exc)
        else:
            raise AssertionError(f"{path.name} was read")

    # A well-formed file reads; an error while drawing its tables is not blamed on the file.
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"args": {"seeds": "[0]"},
                                "harness/sentiment": {"sia": _arm([[True]])}}))  # fmt: skip
    records = peers.read_records([good])
    peers.harness_table = None  # a bug in the tables: calling it raises TypeError
    try:
        peers.from_json(records)
    except TypeError:
        pass
    else:
        raise AssertionError("the tables were not drawn from the records")


def test_nearest_demos_by_word_overlap_put_the_closest_row_last() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from demo_choice import Overlap
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rows = [
        {"id": "a", "review": "The kettle is really excellent.", "answer": "positive"},
        {"id": "b", "review": "Nobody could call this kettle perfect.", "answer": "negative"},
        {"id": "c", "review": "The toaster is not bad at all.", "answer": "positive"},
        {"id": "d", "review": "This toaster is far from sturdy.", "answer": "negative"},
    ]
    demos = Overlap(rows).demos("Nobody could call this toaster perfect.", 2)
    # The same template and adjective (b) is nearer than the same product alone (c or d),
    # and the nearest is placed last, next to the question.
    assert [d["id"] for d in demos][-1] == "b"
    assert len(demos) == 2


def test_fresh_rows_reads_the_question_off_the_harness_and_names_one_it_cannot() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from fresh_rows import question
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    source = 'ASK = {"plain": "Is it good?", "careful": "Read it all. Is it good?"}\n'
    assert question(source, "careful") == "Read it all. Is it good?"
    # A run's harness is the agent's code: a table built at run time, one without the
    # chosen value, or none at all is one line naming it, never run or a KeyError.
    for bad, choice in (
        ('ASK = dict(plain=open("/etc/hostname").read())\n', "plain"),
        (source, "sneaky"),
        ('ASK = {"plain": 42}\n', "plain"),
        ("QUESTION = 'plain'\n", "plain"),
    ):
        try:
            question(bad, choice)
        except SystemExit as stop:
            assert f"QUESTION={choice!r}" in str(stop)
        else:
            raise AssertionError(f"read a question out of {bad!r}")
