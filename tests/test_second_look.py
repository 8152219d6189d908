"""The paired keep rule's second look: a close call settled on more training rows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from sia_core.generation_record import GenerationRecord
from sia_core.loop import keep_rule, second_look
from sia_core.loop.keep_rule import FUTILITY, LEVEL, SEQUENTIAL_LEVEL, decide, pooled
from sia_core.run_layout import SECOND_LOOK

# -- the rule -----------------------------------------------------------------------------


def binary(better: int, worse: int, same: int, tag: str = "i") -> tuple[dict, dict]:
    """Per-item rewards of a candidate and an incumbent: `better` items only the candidate
    got right, `worse` only the incumbent, `same` both."""
    cand, inc = {}, {}
    for k in range(better):
        cand[f"{tag}b{k}"], inc[f"{tag}b{k}"] = 1.0, 0.0
    for k in range(worse):
        cand[f"{tag}w{k}"], inc[f"{tag}w{k}"] = 0.0, 1.0
    for k in range(same):
        cand[f"{tag}s{k}"], inc[f"{tag}s{k}"] = 1.0, 1.0
    return cand, inc


def first_look(better: int, worse: int, same: int = 70) -> keep_rule.KeepVerdict:
    cand, inc = binary(better, worse, same)
    n = better + worse + same
    return decide("paired", cand, inc, (better + same) / n, (worse + same) / n, "max",
                  two_looks=True)  # fmt: skip


def test_a_close_call_asks_for_a_second_look_instead_of_deciding() -> None:
    # The main job's generation 4: 4 selection items better, none worse, p = 0.0625.
    verdict = first_look(4, 0)
    assert not verdict.kept and verdict.second_look
    assert verdict.p_value == pytest.approx(1 / 16) and verdict.level == SEQUENTIAL_LEVEL
    assert "second look" in verdict.reason
    # 5/0 (p = 0.031) passes a single look at 5% but not a look of two at 3%.
    assert first_look(5, 0).second_look and not first_look(5, 0).kept
    assert first_look(6, 0).kept and not first_look(6, 0).second_look  # p = 0.016
    # Hopeless (p > FUTILITY) or worse: decided now, not kept.
    assert not first_look(3, 2).second_look and not first_look(3, 2).kept
    assert not first_look(0, 4).second_look and not first_look(0, 4).kept
    # Without rows to spare the one look stays at 5%.
    cand, inc = binary(5, 0, 70)
    single = decide("paired", cand, inc, 0.9, 0.85, "max")
    assert single.kept and single.level == LEVEL and not single.second_look


def test_a_run_stops_when_no_child_could_clear_the_paired_rule() -> None:
    def incumbent(failed: int, right: int = 79) -> dict[str, float]:
        return {f"f{k}": 0.0 for k in range(failed)} | {f"r{k}": 1.0 for k in range(right)}

    # The main job's generation 3: 79 of 80 right. A child with all 80 would be 1 better,
    # p = 0.5: above FUTILITY, so not even a second look.
    why = keep_rule.out_of_reach("paired", incumbent(1), two_looks=True)
    assert why is not None and "fails 1 of 80" in why and "p=0.500" in why
    # Two failures: a perfect child is a close call (p = 0.25), so the run goes on.
    assert keep_rule.out_of_reach("paired", incumbent(2, 78), two_looks=True) is None
    # With one look only at 5%: 4 failures (p = 0.0625) cannot pass, 5 (p = 0.031) can.
    assert keep_rule.out_of_reach("paired", incumbent(4, 76), two_looks=False) is not None
    assert keep_rule.out_of_reach("paired", incumbent(5, 75), two_looks=False) is None
    for failed in range(1, 7):  # the same boundary as deciding a perfect child directly
        inc = incumbent(failed, 80 - failed)
        perfect = decide("paired", dict.fromkeys(inc, 1.0), inc, 1.0, 0.9, "max", two_looks=True)
        reachable = perfect.kept or perfect.second_look
        assert (keep_rule.out_of_reach("paired", inc, two_looks=True) is None) == reachable
    # raw keeps any gain; a saturated incumbent is the backend's to report; rewards that
    # are not all 0 or 1 have no best child to compute.
    assert keep_rule.out_of_reach("raw", incumbent(1), two_looks=False) is None
    assert keep_rule.out_of_reach("paired", incumbent(0, 80), two_looks=True) is None
    assert keep_rule.out_of_reach("paired", {"a": 0.5, "b": 1.0}, two_looks=True) is None


def test_the_second_look_pools_both_looks() -> None:
    first = first_look(4, 0)
    selection = binary(4, 0, 70)
    real = pooled(first, selection, binary(9, 1, 150, tag="m"))
    assert real.kept and real.p_value == pytest.approx(keep_rule.mcnemar_one_sided(13, 1))
    assert real.items == 74 + 160
    assert real.evidence == {
        "rows": 160, "better": 9, "worse": 1, "difference": pytest.approx(8 / 160),
        "first_p_value": pytest.approx(1 / 16),
    }  # fmt: skip
    assert "two looks" in real.reason and real.interval[0] > 0
    lucky = pooled(first, selection, binary(3, 3, 154, tag="m"))
    assert not lucky.kept and lucky.p_value == pytest.approx(keep_rule.mcnemar_one_sided(7, 3))
    missed = keep_rule.no_second_look(first, "the candidate failed on the extra rows")
    assert not missed.kept and "not made: the candidate failed" in missed.reason


def test_two_looks_keep_a_candidate_no_better_under_five_percent_of_the_time() -> None:
    """The exact chance that two looks keep a candidate that is no better (each item
    where exactly one of the two succeeds a fair coin), over discordant counts up to 80
    at the first look and 160 more at the second. A single look at 5% stays the rule
    when no second is possible; two looks at 5% would keep noise more often."""

    def chance(n1: int, n2: int, level: float) -> float:
        total = 0.0
        for b1 in range(n1 // 2 + 1, n1 + 1):
            p1 = keep_rule.mcnemar_one_sided(b1, n1 - b1)
            weight = math.comb(n1, b1) / 2**n1
            if p1 < level:
                total += weight
            elif p1 <= FUTILITY:
                for b2 in range(n2 + 1):
                    b, w = b1 + b2, n1 - b1 + n2 - b2
                    if b > w and keep_rule.mcnemar_one_sided(b, w) < level:
                        total += weight * math.comb(n2, b2) / 2**n2
        return total

    worst = max(
        chance(n1, n2, SEQUENTIAL_LEVEL) for n1 in range(1, 81, 3) for n2 in range(0, 161, 8)
    )
    assert worst <= 0.05
    assert max(chance(n1, 0, LEVEL) for n1 in range(1, 81)) <= 0.05
    # Why the level is lower with two looks: at 5% each, noise is kept more often.
    assert max(chance(n1, n2, LEVEL) for n1 in (14, 30) for n2 in range(40, 81, 4)) > 0.05


# -- the rows -----------------------------------------------------------------------------


def test_rows_of_a_record_written_before_rounds_listed_them_are_unknown() -> None:
    assert second_look.trained_ids(None) == set()
    assert second_look.trained_ids({"rounds": [{"item_ids": ["a", "b"]}]}) == {"a", "b"}
    assert second_look.trained_ids({"rounds": [{"batch": {}}]}) is None


def test_draw_is_seeded_sized_by_the_selection_split_and_needs_enough_rows() -> None:
    spare = [f"r{k}" for k in range(300)]
    rows = second_look.draw(spare, 80, seed=5)
    assert len(rows) == 160 and rows == second_look.draw(list(reversed(spare)), 80, seed=5)
    assert rows != second_look.draw(spare, 80, seed=6)
    assert len(second_look.draw(spare, 8, seed=5)) == second_look.MIN_ROWS
    assert second_look.draw(spare[: second_look.MIN_ROWS - 1], 80, seed=5) == []


# -- in a run: both harnesses run on spare training rows ----------------------------------

NO_MODEL_AGENT = """
import argparse, csv, os
p = argparse.ArgumentParser(); p.add_argument("--dataset_dir"); p.add_argument("--working_dir")
a = p.parse_args()
ANSWER, BUT = {answer!r}, {but!r}  # one answer for every row but these
rows = list(csv.DictReader(open(os.path.join(a.dataset_dir, "test.csv"))))
other = "no" if ANSWER == "yes" else "yes"
with open(os.path.join(a.working_dir, "predictions.csv"), "w", newline="") as fh:
    out = csv.writer(fh); out.writerow(["id", "answer"])
    for row in rows:
        out.writerow([row["id"], other if row["id"] in BUT else ANSWER])
# Hostile: plant a second look's records and its view where sia will write them.
for part in ("candidate", "incumbent", "view/data/public"):
    os.makedirs(os.path.join(a.working_dir, "keep_rule", part), exist_ok=True)
    with open(os.path.join(a.working_dir, "keep_rule", part, "results.json"), "w") as fh:
        fh.write('{{"summary": {{"accuracy": 1.0}}, "items": []}}')
"""


def harness(where: Path, answer: str, but: list[str]) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "target_agent.py").write_text(NO_MODEL_AGENT.format(answer=answer, but=sorted(but)))
    return where / "target_agent.py"


@pytest.fixture
def wiring(tiny_loop: Any, tmp_path: Path) -> Any:
    from dataclasses import replace

    from sia_core.tasks.splits import selection_view

    view = selection_view(tiny_loop.task, tmp_path / "views")
    return replace(tiny_loop.wiring, selection=view)


def run_on_selection(w: Any, number: int, where: Path) -> None:
    from sia_core.envs import python_for

    python = python_for(where / "requirements.txt")
    w.executor.run_split(number, "selection", w.selection, where / "target_agent.py",
                         where, python, None)  # fmt: skip


def scored_rows(gen: Path) -> dict[str, float]:
    data = json.loads((gen / SECOND_LOOK / "candidate" / "agent_execution.json").read_text())
    return {t["item_id"]: t["reward"] for t in data["trajectories"]}


def test_a_close_call_is_kept_when_more_rows_agree_and_not_when_they_do_not(
    wiring: Any, tmp_path: Path
) -> None:
    from sia_core.loop import steps
    from sia_core.run_layout import adapter_dir

    w = wiring
    split = w.task.config.validation
    with (w.selection.public_dir / split.inputs).open() as fh:
        selection_ids = [row["id"] for row in csv.DictReader(fh)]
    with (w.selection.public_dir / split.source).open() as fh:
        training_ids = [row["id"] for row in csv.DictReader(fh)]
    assert len(selection_ids) == 8 and len(training_ids) == 24

    # The incumbent (generation 1) says "no" to everything: 0 of 8.
    gen1 = w.rundir.gen_dir(1)
    harness(gen1, "no", [])
    run_on_selection(w, 1, gen1)
    records = [GenerationRecord(number=1, started=0, status="ok", score=0.0, incumbent=True)]
    # A weights child trained on three rows, with its adapter, and a harness that names a
    # fourth (a demo): neither may be scored.
    trained, named = training_ids[:3], training_ids[3]
    training = {"rounds": [{"item_ids": trained}]}

    def child(
        number: int, answer: str, but: list[str], names: str = named
    ) -> tuple[Path, steps.Kept]:
        tmp = w.rundir.path / f".gen_{number}"
        agent = harness(tmp, answer, but)
        agent.write_text(agent.read_text() + f"# demo: {names}\n")
        w.serving.serve(None, w.reporter)
        w.serving.policy.save_adapter(adapter_dir(tmp))
        run_on_selection(w, number, tmp)
        assert not (tmp / SECOND_LOOK).exists()  # a reserved name: dropped at copy-back
        kept = steps.keep(w, number, tmp, 2 / 8, records, number, training)
        return tmp, kept

    # Two selection items better (p = 0.25, a close call), and every extra row too.
    real, kept = child(2, "yes", selection_ids[2:])
    verdict = kept.verdict
    assert kept.incumbent and verdict["kept"], verdict
    assert verdict["evidence"]["rows"] == 20 and verdict["evidence"]["better"] == 20
    assert verdict["evidence"]["first_p_value"] == pytest.approx(0.25)
    rows = scored_rows(real)
    assert len(rows) == 20 and not set(rows) & {*trained, named, *selection_ids}
    assert kept.test_score is not None  # kept: it ran on the test split
    assert w.serving.policy.adapter == adapter_dir(real)  # its own adapter, served last
    assert kept.usage["second look"]["calls"] == 0  # these harnesses ask no model

    # The same two selection items, nothing more: the second look finds no gain.
    lucky, kept = child(3, "no", selection_ids[:2])
    assert not kept.incumbent and kept.test_score is None
    assert kept.verdict["evidence"]["better"] == 0 and "two looks" in kept.verdict["reason"]
    assert not (lucky / SECOND_LOOK / "view").exists()
    results = list((lucky / SECOND_LOOK).rglob("results.json"))
    assert len(results) == 2  # the evaluator's, for incumbent/ and candidate/; none planted
    assert not [r for r in results if '"accuracy": 1.0' in r.read_text()]

    # Hostile: a harness that names every training row, to be judged by the single look
    # at 5% (5 of 8 better, p = 0.031) instead of the two looks at 3%. Which rows are
    # spare is settled before the names are read: the second look is due, finds no
    # rows, and the child is not kept.
    _, kept = child(4, "yes", selection_ids[5:], names=" ".join(training_ids))
    assert not kept.incumbent and kept.verdict["level"] == SEQUENTIAL_LEVEL
    assert "name all but 0 of the 21 spare rows" in kept.verdict["reason"], kept.verdict
