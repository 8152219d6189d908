"""Both levers offline: the lever choice on synthetic histories, the demo pool against
the carved split, and the knob study's ask/tell bookkeeping."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sia_core.backends.contract import BackendCannotAct
from sia_core.backends.lever_choice import LeverEvidence, choose_lever
from sia_core.harness.knob_search import FOLLOW_UPS, POOL_MAX, KnobSearch, demo_pool
from sia_core.harness.knobs import parse_knobs
from sia_core.tasks.splits import selection_view
from sia_core.tasks.task import load_task_dir


def evidence(**kw) -> LeverEvidence:
    base = {"levers": "both", "knobs": 3, "trainable": True, "trials": 0, "history": ()}
    return LeverEvidence(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "lever", "why"),
    [
        ({}, "harness", "untried on this adapter and harness (0 of 3"),
        ({"trials": 2, "history": (("harness", True),)}, "harness", "(2 of 3 finished"),
        (
            {"trials": 3, "history": (("harness", True), ("harness", True))},
            "weights",
            "the knobs are tried on this adapter (3 trials)",
        ),
        (
            {"trials": 3, "history": (("harness", True), ("harness", False))},
            "weights",
            "the last knob trial was not kept: the harness has plateaued",
        ),
        (
            {"trials": 0, "history": (("harness", True), ("weights", True))},
            "harness",
            "re-tune the harness after a weights gain: the knobs are untried on the new "
            "adapter (0 of 2",
        ),
        (
            {"trials": 1, "history": (("weights", True),)},
            "harness",
            "re-tune the harness after a weights gain",
        ),
        (
            {"trials": 2, "history": (("weights", True), ("harness", True))},
            "weights",
            "the knobs are tried",
        ),
        ({"trials": 3, "history": (("weights", False),)}, "weights", "the knobs are tried"),
        (
            {"trials": 5, "history": (("weights", False), ("weights", False))},
            "harness",
            "the last 2 weights generations were not kept",
        ),
        (
            {"trials": 16, "history": (("weights", False), ("weights", False))},
            "weights",
            "the knobs are tried",
        ),
        ({"levers": "weights"}, "weights", "levers=weights"),
        ({"levers": "harness", "trials": 9, "history": (("harness", False),) * 5}, "harness", ""),
        ({"trainable": False, "trials": 9}, "harness", "cannot be trained"),
        ({"knobs": 0}, "weights", "declares no knobs"),
        ({"knobs": 0, "knob_problem": "line 3: bad"}, "weights", "cannot be read (line 3: bad)"),
    ],
)
def test_the_lever_follows_the_evidence(kw, lever, why) -> None:
    chosen, reason = choose_lever(evidence(**kw))
    assert chosen == lever and why in reason


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"knobs": 0, "trainable": False}, "nothing for the heuristic backend to change"),
        ({"levers": "harness", "knobs": 0}, "levers=harness, but the harness declares no knobs"),
        ({"levers": "weights", "trainable": False}, "levers=weights, but the task model cannot"),
    ],
)
def test_a_lever_that_cannot_be_pulled_is_one_line(kw, message) -> None:
    with pytest.raises(BackendCannotAct) as info:
        choose_lever(evidence(**kw))
    assert message in str(info.value) and "\n" not in str(info.value)


def _ids(path: Path) -> set[str]:
    with path.open(newline="") as fh:
        return {row["id"] for row in csv.DictReader(fh)}


def test_demo_ids_never_include_selection_or_test_items(task_dir: Path, tmp_path: Path) -> None:
    # A hostile public file: train.csv also lists two test ids (with labels).
    train = task_dir / "data" / "public" / "train.csv"
    test_ids = sorted(_ids(task_dir / "data" / "public" / "test.csv"))
    with train.open("a", newline="") as fh:
        csv.writer(fh).writerows(
            [[test_ids[0], "great", "positive"], [test_ids[1], "bad", "negative"]]
        )
    task = load_task_dir(task_dir)
    selection = selection_view(task, tmp_path / "views")
    selection_ids = _ids(selection.private_dir / "answers.csv")
    assert selection_ids and selection_ids <= _ids(train)  # carved from train.csv
    (knob,) = parse_knobs("DEMO_IDS = []  # sia-knob: demos train.csv:id 0..8\n")
    pool = demo_pool(knob, task, selection, seed=0)
    assert len(pool) == POOL_MAX
    assert not set(pool) & selection_ids
    assert not set(pool) & set(test_ids)
    assert set(pool) <= _ids(train) - selection_ids - set(test_ids)
    everything = set()
    for seed in range(20):
        everything |= set(demo_pool(knob, task, selection, seed=seed))
    assert not everything & (selection_ids | set(test_ids))
    assert demo_pool(knob, task, selection, seed=3) == demo_pool(knob, task, selection, seed=3)

    # Every proposal of a search draws from that pool only.
    knobs = parse_knobs('DEMO_IDS = ["x"]  # sia-knob: demos train.csv:id 1..8\n')
    search = KnobSearch(tmp_path / "run", "max", seed=0)
    for number in range(2, 12):
        proposal = search.propose("s", knobs, {"DEMO_IDS": pool}, number, None, None)
        assert 1 <= len(proposal.values["DEMO_IDS"]) <= 8
        assert set(proposal.values["DEMO_IDS"]) <= set(pool)
        _record(tmp_path / "run", number, 0.1 * number)


def test_a_demos_file_that_is_not_public_is_one_line(task_dir: Path, tmp_path: Path) -> None:
    from sia_core.harness.knob_search import KnobSearchError

    task = load_task_dir(task_dir)
    (knob,) = parse_knobs("IDS = []  # sia-knob: demos answers.csv:id 0..2\n")
    with pytest.raises(KnobSearchError, match="'answers.csv' is not in the task's public data"):
        demo_pool(knob, task, task, 0)


def _record(run: Path, number: int, score: float | None, candidate: int | None = None) -> None:
    gen = run / f"gen_{number}"
    path = (
        gen / "generation.json"
        if candidate is None
        else gen / "candidates" / str(candidate) / "generation.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    status = "ok" if score is not None else "failed"
    path.write_text(json.dumps({"number": number, "status": status, "score": score}))


KNOBS = """
SHOTS = 4  # sia-knob: int 0..16
MODE = "a"  # sia-knob: choice a|b|c
TEMP = 0.0  # sia-knob: float 0.0..1.0
"""


def test_the_study_tells_scores_from_the_records_and_reuses_an_unfinished_trial(
    tmp_path: Path,
) -> None:
    knobs = parse_knobs(KNOBS)
    run = tmp_path / "run"
    search = KnobSearch(run, "max", seed=1)
    parent = ({"SHOTS": 4, "MODE": "a", "TEMP": 0.0}, 0.25, 1)
    first = search.propose("s", knobs, {}, 2, None, parent)
    assert first.how == "edit" and first.finished == 1 and not first.reused
    # The first startup trials edit one knob of the parent's setting, choices first.
    assert [k for k in parent[0] if first.values[k] != parent[0][k]] == ["MODE"]
    # Killed before generation 2 was whole: the same trial comes back, not a new one.
    again = KnobSearch(run, "max", seed=1).propose("s", knobs, {}, 2, None, parent)
    assert again.reused and (again.trial, again.values) == (first.trial, first.values)
    _record(run, 2, 0.5)
    second = KnobSearch(run, "max", seed=1).propose("s", knobs, {}, 3, None, parent)
    assert second.trial == first.trial + 1 and second.best == {"trial": 1, "score": 0.5, "gen": 2}
    # A choice's other option is tried too (the one no trial has), before the numbers.
    assert [k for k in parent[0] if second.values[k] != parent[0][k]] == ["MODE"]
    assert {first.values["MODE"], second.values["MODE"]} == {"b", "c"}
    _record(run, 3, None)  # a failed generation: its trial fails
    third = KnobSearch(run, "max", seed=1).propose("s", knobs, {}, 4, None, parent)
    assert third.how == "edit"  # the failed trial did not count as finished
    assert [k for k in parent[0] if third.values[k] != parent[0][k]] == ["SHOTS"]
    rows = {r["trial"]: r for r in search.table()}
    assert [rows[n]["state"] for n in sorted(rows)] == ["complete", "complete", "fail", "running"]
    assert rows[0]["how"] == "parent" and rows[0]["gen"] == 1 and rows[0]["score"] == 0.25
    assert rows[1]["values"] == first.values and rows[1]["gen"] == 2
    assert rows[third.trial]["gen"] == 4
    assert search.completed("s") == 2 and search.completed("other") == 0
    # The latest generation's trial counts as soon as its record is whole.
    _record(run, 4, 0.7)
    assert search.completed("s") == 3


def test_candidates_are_trials_of_their_own(tmp_path: Path) -> None:
    knobs = parse_knobs(KNOBS)
    run = tmp_path / "run"
    search = KnobSearch(run, "min", seed=0)
    one = search.propose("s", knobs, {}, 2, 1, None)
    two = search.propose("s", knobs, {}, 2, 2, None)
    assert one.trial != two.trial
    _record(run, 2, 0.9, candidate=1)
    _record(run, 2, 0.3, candidate=2)
    search.propose("s", knobs, {}, 3, 1, None)
    best = KnobSearch._best(search.study("s"))
    assert best == {"trial": two.trial, "score": 0.3, "gen": 2}  # direction min


def test_a_setting_already_scored_is_told_not_run(tmp_path: Path) -> None:
    knobs = parse_knobs('MODE = "a"  # sia-knob: choice a|b\n')
    run = tmp_path / "run"
    search = KnobSearch(run, "max", seed=0)
    first = search.propose("s", knobs, {}, 2, None, ({"MODE": "a"}, 0.1, 1))
    assert first.values == {"MODE": "b"}  # "a" is the parent's, already scored
    _record(run, 2, 0.2)
    from sia_core.harness.knob_search import KnobSearchError

    with pytest.raises(KnobSearchError, match="space looks exhausted"):
        search.propose("s", knobs, {}, 3, None, None)


def test_coding_agents_see_the_knobs_and_the_trials(tmp_path: Path) -> None:
    import dataclasses

    from sia_core.agent_session.briefing import evidence_files
    from tests.test_agent_session import feedback_ctx

    task = load_task_dir(Path(__file__).parent.parent / "examples" / "review-sentiment")
    ctx = feedback_ctx(task, tmp_path)
    (ctx.out_dir / "target_agent.py").write_text(KNOBS)
    run = ctx.out_dir.parent
    search = KnobSearch(run, "max", 0)
    search.propose(
        "s", parse_knobs(KNOBS), {}, 2, None, ({"SHOTS": 4, "MODE": "a", "TEMP": 0.0}, 0.5, 1)
    )
    knobs_md = evidence_files(dataclasses.replace(ctx, run_dir=run), 2000)["knobs.md"]
    assert "- `SHOTS = 4` (int 0..16; line 2)" in knobs_md
    assert "- `MODE = 'a'` (choice a|b|c; line 3)" in knobs_md
    assert "`demos FILE:COLUMN MIN..MAX`" in knobs_md
    assert (
        "- trial 0 (generation 1, parent, complete): 0.5000: SHOTS=4, MODE='a', TEMP=0.0"
        in knobs_md
    )
    assert "- trial 1 (generation 2, edit, running): -: SHOTS=4, MODE=" in knobs_md
    (ctx.out_dir / "target_agent.py").write_text("X = 1  # sia-knob: int 5..3\n")
    bad = evidence_files(ctx, 2000)["knobs.md"]
    assert "knobs cannot be read: target_agent.py line 1: range 5..3 is empty" in bad


def test_edits_walk_from_the_incumbent_one_knob_each_then_tpe(tmp_path: Path) -> None:
    knobs = parse_knobs(KNOBS)
    run = tmp_path / "run"
    search = KnobSearch(run, "max", seed=0)
    incumbent = ({"SHOTS": 4, "MODE": "a", "TEMP": 0.0}, 0.2, 1)
    edited = []
    modes = []
    for number in range(2, 11):
        proposal = search.propose("s", knobs, {}, number, None, incumbent)
        moved = [k for k in incumbent[0] if proposal.values[k] != incumbent[0][k]]
        edited.append((proposal.how, moved))
        modes.append(proposal.values["MODE"])
        # Each trial gains and is kept: the next builds on it. SHOTS gains most.
        score = incumbent[1] + (0.1 if moved == ["SHOTS"] else 0.01)
        _record(run, number, score)
        incumbent = (proposal.values, score, number)
    assert edited[:4] == [
        ("edit", ["MODE"]),
        ("edit", ["MODE"]),  # from the kept option to the one never tried, not back to "a"
        ("edit", ["SHOTS"]),
        ("edit", ["TEMP"]),
    ]
    assert sorted(modes[:2]) == ["b", "c"]
    # Then up to FOLLOW_UPS edits of the knob that gained most (MODE has no option left;
    # an edit that draws a value already scored is told, not run, and counts), then TPE.
    follow = [e for e in edited[4:] if e[0] == "edit"]
    assert follow and set(map(str, follow)) == {str(("edit", ["SHOTS"]))}
    assert len(follow) <= FOLLOW_UPS and edited[-1][0] == "tpe"


def test_a_knob_whose_edit_changed_nothing_is_not_walked_again(tmp_path: Path) -> None:
    """VOTES at temperature 0, or a wording a base model ignores: its edit scores exactly
    what the setting it started from scored, so the walk drops it and follows what gained."""
    knobs = parse_knobs(KNOBS)
    run = tmp_path / "run"
    search = KnobSearch(run, "max", seed=0)
    incumbent = ({"SHOTS": 4, "MODE": "a", "TEMP": 0.0}, 0.2, 1)
    edited = []
    for number in range(2, 7):
        proposal = search.propose("s", knobs, {}, number, None, incumbent)
        moved = [k for k in incumbent[0] if proposal.values[k] != incumbent[0][k]]
        edited.append(moved)
        gain = {"MODE": 0.0, "SHOTS": 0.05}.get(moved[0], 0.01) if moved else 0.0
        _record(run, number, incumbent[1] + gain)
        if gain > 0:
            incumbent = (proposal.values, incumbent[1] + gain, number)
    # MODE's first edit changed nothing: its other option is skipped, SHOTS follows up.
    assert edited[:4] == [["MODE"], ["SHOTS"], ["TEMP"], ["SHOTS"]]


def test_an_edit_that_sends_what_its_origin_sent_is_told_its_score_not_run(
    tmp_path: Path,
) -> None:
    """SHOTS once demo ids are set, VOTES at temperature 0: the model sees exactly what it
    saw, so the edit gets the origin's score without a selection run, and the knob is not
    walked again. Here the harness ignores TEMP (the probe's digest leaves it out)."""
    knobs = parse_knobs(KNOBS)
    run = tmp_path / "run"
    search = KnobSearch(run, "max", seed=0)
    probed: list[dict] = []

    def probe(values: dict) -> str:
        probed.append(dict(values))
        return f"{values['SHOTS']}-{values['MODE']}"

    incumbent = ({"SHOTS": 4, "MODE": "a", "TEMP": 0.0}, 0.2, 1)
    ran = []
    for number in range(2, 7):
        proposal = search.propose("s", knobs, {}, number, None, incumbent, probe=probe)
        moved = [k for k in incumbent[0] if proposal.values[k] != incumbent[0][k]]
        assert moved != ["TEMP"], "an edit the probe showed to change nothing was run"
        ran.append((moved, proposal.repeats))
        _record(run, number, incumbent[1] - 0.01)  # nothing gains: every edit from the parent
    # The parent is probed once, before the first edit is compared with it; MODE's edits
    # (a choice: another declared alternative) are never probed.
    assert probed[0] == incumbent[0] and probed.count(incumbent[0]) == 1
    assert all(v["MODE"] == "a" for v in probed)
    assert [m for m, _ in ran if m == ["MODE"]], "MODE was edited"
    told = [t for t in search.study("s").get_trials() if "same_requests_as" in t.user_attrs]
    assert [t.params.get("TEMP") != 0.0 for t in told] == [True]
    assert told[0].user_attrs["how"] == "repeat" and told[0].value == 0.2
    assert told[0].user_attrs["same_requests_as"] == 0  # the parent's trial
    assert sum(bool(r) for _, r in ran) == 1 and search.completed("s") == 1 + len(ran)
    # TEMP's told edit tied with its origin: it is not walked again.
    assert all(m != ["TEMP"] for m, _ in ran)


def test_a_probe_that_says_nothing_leaves_every_edit_to_its_selection_run(
    tmp_path: Path,
) -> None:
    knobs = parse_knobs(KNOBS)
    run = tmp_path / "run"
    search = KnobSearch(run, "max", seed=0)
    incumbent = ({"SHOTS": 4, "MODE": "a", "TEMP": 0.0}, 0.2, 1)
    moved_knobs = set()
    for number in range(2, 6):
        proposal = search.propose("s", knobs, {}, number, None, incumbent, probe=lambda v: None)
        moved_knobs |= {k for k in incumbent[0] if proposal.values[k] != incumbent[0][k]}
        assert not proposal.repeats
        _record(run, number, 0.1)
    assert "TEMP" in moved_knobs


def test_the_edit_plan_tries_a_choices_options_within_the_caps() -> None:
    from sia_core.harness.knob_search import CHOICE_EDITS, DEMO_EDITS, MAX_EDITS, edit_plan

    many = 'M = "a"  # sia-knob: choice a|b|c|d|e|f\nN = 1  # sia-knob: int 0..3\n'
    plan = [k.name for k in edit_plan(parse_knobs(many))]
    assert plan == ["M"] * CHOICE_EDITS + ["N"]
    wide = "".join(f"K{i} = 1  # sia-knob: int 0..3\n" for i in range(10))
    assert len(edit_plan(parse_knobs(wide))) == MAX_EDITS
    arithmetic = (
        Path(__file__).parent.parent
        / "plugins/sia_tasks_offline/sia_tasks_offline/files/arithmetic_agent.py"
    ).read_text()
    assert [k.name for k in edit_plan(parse_knobs(arithmetic))] == [
        "FORMAT", "FORMAT", *["DEMO_IDS"] * DEMO_EDITS, "SHOTS", "VOTES"
    ][:MAX_EDITS]  # fmt: skip


def test_two_run_seeds_try_different_edits(tmp_path: Path) -> None:
    """The edits are drawn from the run's seed, not the study's name alone: otherwise every
    seed of a benchmark starts with the same trials and the seed spread is understated."""
    knobs = parse_knobs(KNOBS)
    parent = ({"SHOTS": 4, "MODE": "a", "TEMP": 0.0}, 0.2, 1)
    by_seed: dict[int, list[dict]] = {}
    for seed in range(4):
        run = tmp_path / f"run{seed}"
        search = KnobSearch(run, "max", seed=seed)
        for number in (2, 3, 4):
            by_seed.setdefault(seed, []).append(
                search.propose("s", knobs, {}, number, None, parent).values
            )
            _record(run, number, 0.1)
        # The same seed asks the same edits again.
        again = KnobSearch(tmp_path / f"again{seed}", "max", seed=seed)
        assert again.propose("s", knobs, {}, 2, None, parent).values == by_seed[seed][0]
    assert len({json.dumps(v, sort_keys=True) for v in by_seed.values()}) > 1


def test_demos_edits_after_a_bootstrap_draw_from_rows_the_harness_answered_right(
    task_dir: Path, tmp_path: Path
) -> None:
    """DSPy's bootstrapped demos, in the edit walk: once per study the best setting that
    shows demos is run on training rows of the pool (never its own demos, selection or
    test rows), and the demos edits after it draw from the rows it answered right."""
    from sia_core.backends.contract import FeedbackContext, GenerationView, TrialReport
    from sia_core.backends.knob_lever import BOOTSTRAP_ROWS, parent_knobs, propose_knobs
    from sia_core.harness.knobs import parse_knobs as knobs_of
    from sia_core.tasks.splits import rows_view

    task = load_task_dir(task_dir)
    selection = selection_view(task, tmp_path / "views")
    (knob,) = parse_knobs("DEMO_IDS = []  # sia-knob: demos train.csv:id 0..4\n")
    pool = demo_pool(knob, task, selection, seed=0)
    shown = pool[:4]
    source = f"DEMO_IDS = {json.dumps(shown)}  # sia-knob: demos train.csv:id 1..4\n"
    source += 'MODE = "a"  # sia-knob: choice a|b\n'
    right = set(pool[10:20])
    asked: list[list[str]] = []

    def on_rows(agent: Path, ids: list[str]) -> dict[str, bool]:
        asked.append(ids)
        # the rows asked about are items of a view whose training file lacks them
        view = rows_view(task, selection, tmp_path / f"rows_{len(asked)}", set(ids))
        assert _ids(view.private_dir / "answers.csv") == set(ids)
        assert not set(ids) & _ids(view.public_dir / "train.csv")
        return {i: i in right for i in ids}

    def on_selection(agent: Path) -> TrialReport:
        demos = next(k.value for k in knobs_of(agent.read_text()) if k.name == "DEMO_IDS")
        score = 0.5 + 0.1 * len(set(demos) & right)
        return TrialReport(True, 10, 0, False, 1.0, 10, score, {}, [], "", "", "")

    def generation(number: int) -> tuple[FeedbackContext, list[dict]]:
        out = tmp_path / "run" / f"gen_{number}"
        out.mkdir(parents=True)
        (out / "target_agent.py").write_text(source)
        parent = GenerationView(number - 1, tmp_path, "ok", 0.5, None, None)
        ctx = FeedbackContext(
            task=task, out_dir=out, number=number, history=[parent], parent=parent,
            reward_report=None, algorithms=[], weights_available=False, meta_model=None,
            run_dir=tmp_path / "run", on_selection=on_selection, on_rows=on_rows,
            selection=selection,
        )  # fmt: skip
        decision = propose_knobs(ctx, parent_knobs(ctx), "tune the harness", 4)
        return ctx, decision.hyperparameters["trials"]

    ctx, trials = generation(2)
    assert len(asked) == 1 and len(asked[0]) == min(BOOTSTRAP_ROWS, len(pool) - len(shown))
    assert set(asked[0]) <= set(pool) and not set(asked[0]) & set(shown)
    # the walk: MODE's one edit, then demos edits drawn from the rows answered right
    # MODE's edit tied with the parent (0.5): the trials after it start from the parent
    assert trials[0]["values"]["MODE"] == "b" and trials[0]["score"] == 0.5
    assert [t["values"]["MODE"] for t in trials[1:]] == ["a"] * (len(trials) - 1)
    demos = [t["values"]["DEMO_IDS"] for t in trials if t["values"]["DEMO_IDS"] != shown]
    assert demos and all(set(d) <= right for d in demos), (demos, right)
    # label by label: both classes among the rows answered right, so both are shown
    with (task_dir / "data" / "public" / "train.csv").open(newline="") as fh:
        label = {row["id"]: row["label"] for row in csv.DictReader(fh)}
    assert len({label[i] for i in right}) == 2
    assert all(len({label[i] for i in d}) == 2 for d in demos), demos
    improvement = (ctx.out_dir / "improvement.md").read_text()
    assert "## Bootstrapped demos" in improvement and "answered 10 of" in improvement
    # kept in the study: a later generation on the same harness and adapter asks no more
    generation(3)
    assert len(asked) == 1


def test_bootstrapped_demos_are_drawn_label_by_label() -> None:
    """Demos of one class teach a base model to answer that class (sentiment: a setting
    that answers "negative" to everything gets every negative row right): a label the
    setting never got right contributes its rows as labelled, and edits alternate."""
    import random

    from sia_core.backends.knob_lever import _groups
    from sia_core.harness.knob_search import _interleaved

    rows = [f"r{i}" for i in range(12)]
    labels = {r: ("pos" if i % 3 == 0 else "neg") for i, r in enumerate(rows)}
    right = [r for r in rows if labels[r] == "neg"]  # it said "neg" to everything
    groups = _groups(rows, right, labels)
    assert sorted(map(sorted, groups)) == sorted([sorted(right), ["r0", "r3", "r6", "r9"]])
    drawn = _interleaved(groups, random.Random(0))
    assert {labels[r] for r in drawn[:2]} == {"pos", "neg"}
    assert sorted(labels[r] for r in drawn[:6]) == ["neg"] * 3 + ["pos"] * 3
    # many distinct answers (arithmetic): no classes, just the rows answered right
    numbers = {r: str(i) for i, r in enumerate(rows)}
    assert _groups(rows, rows[:3], numbers) == [rows[:3]]
    assert _groups(rows, [], numbers) == []


def _call(item: str, temperature: float | None = 0.0, content: str = "Review: x", **extra) -> dict:
    request = {"model": "m", "messages": [{"role": "user", "content": content}], **extra}
    if temperature is not None:
        request["temperature"] = temperature
    return {"item_id": item, "request": request}


def test_the_requests_digest_counts_what_the_model_sees() -> None:
    from sia_core.harness.request_digest import requests_digest

    rewards = {"a": 1.0, "b": 0.0}
    one = requests_digest([_call("a"), _call("b")], rewards)
    assert one is not None
    # Greedy repeats (VOTES at temperature 0) and the order of a harness's threads: same.
    assert requests_digest([_call("b"), _call("a"), _call("a"), _call("b")], rewards) == one
    assert requests_digest([_call("a", stream=True), _call("b")], rewards) == one
    # Sampled repeats are votes: their number counts.
    hot = requests_digest([_call("a", 0.7), _call("b", 0.7)], rewards)
    assert hot != one
    assert requests_digest([_call("a", 0.7)] * 2 + [_call("b", 0.7)], rewards) != hot
    # Another prompt, another row's prompt, or another reward (a parse rule): different.
    assert requests_digest([_call("a", content="Review: y"), _call("b")], rewards) != one
    assert requests_digest([_call("b"), _call("b")], rewards) != one
    assert requests_digest([_call("a"), _call("b")], {"a": 1.0, "b": 1.0}) != one
    # A harness that made no model call: equal requests would prove nothing.
    assert requests_digest([], rewards) is None
