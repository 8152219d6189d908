"""The keep rule's second look: a close call between a child and the incumbent, settled on
more labelled rows than the selection split holds.

The rows come from the training file the selection view leaves to the agent, less every
row a weights generation of this run trained on (an adapter has seen their answers) and
every row either harness names by id (a demo: that harness would run without it). Whether
a second look is possible is decided before the harnesses' names are read, so a harness
cannot name every row to be judged by the single, more lenient look. Both
harnesses run on the same rows, each served its own adapter, through the run's sandbox
and evaluator. The rows are carved out of the training file the harnesses read, so
neither sees an answer it is scored on.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

from sia_core.envs import EnvError, python_for
from sia_core.generation_record import GenerationRecord, ModelCalls
from sia_core.loop.wiring import Wiring
from sia_core.run_layout import SECOND_LOOK
from sia_core.tasks.splits import read_rows, rows_view
from sia_core.tasks.task import TaskError
from sia_core.usage import add_usage

MIN_ROWS = 20
"""Fewer spare rows than this: no second look (the first look decides at 5%)."""
ROWS_PER_ITEM = 2
"""A second look scores this many rows per selection item, as far as rows allow."""
MAX_ROWS = 400

Rewards = dict[str, float]

_TOKEN = re.compile(r"[^\s'\"`,;()\[\]{}]+")


def trained_ids(training: dict[str, Any] | None) -> set[str] | None:
    """The rows a weights generation trained on; None when its record does not list
    them (written before rounds kept their rows)."""
    if not training:
        return set()
    ids: set[str] = set()
    for round_ in training.get("rounds") or []:
        listed = round_.get("item_ids")
        if listed is None:
            return None
        ids |= {str(i) for i in listed}
    return ids


def spare_rows(
    w: Wiring, records: list[GenerationRecord], child_training: dict[str, Any] | None
) -> list[str]:
    """Ids of the training rows no adapter of this run trained on: what a second look
    may score. [] when the task has no labelled rows, or a record does not say."""
    split = w.task.config.validation
    if split is None or w.selection is w.task:
        return []
    trained: set[str] = set()
    for training in [r.training for r in records] + [child_training]:
        ids = trained_ids(training)
        if ids is None:
            return []
        trained |= ids
    _, rows = read_rows(w.selection.public_dir / split.source)
    return [i for i in (str(row.get(split.id_column)) for row in rows) if i not in trained]


def unnamed(rows: list[str], harnesses: list[Path]) -> list[str]:
    """`rows` less those any of these harnesses names (a demo it would run without).
    Applied only once a second look is due: what a harness names decides which rows are
    scored, never whether the stricter level of two looks applies."""
    named: set[str] = set()
    for harness in harnesses:
        if harness.is_file():
            named |= set(_TOKEN.findall(harness.read_text(encoding="utf-8", errors="replace")))
    return [i for i in rows if i not in named]


def draw(spare: list[str], selection_items: int, seed: int) -> list[str]:
    """The rows of a second look: ROWS_PER_ITEM per selection item, drawn with `seed`;
    [] when fewer than MIN_ROWS are spare."""
    if len(spare) < MIN_ROWS:
        return []
    count = min(len(spare), max(MIN_ROWS, ROWS_PER_ITEM * selection_items), MAX_ROWS)
    order = sorted(spare)
    random.Random(seed).shuffle(order)
    return sorted(order[:count])


def run(
    w: Wiring,
    number: int,
    tmp: Path,
    ids: list[str],
    candidate_adapter: Path | None,
    incumbent: GenerationRecord,
    usage: dict[str, dict[str, Any]],
) -> tuple[Rewards, Rewards] | str:
    """Run the incumbent, then the candidate, on the rows `ids` (the candidate's adapter
    is served last, as its test run expects): their per-item rewards (candidate,
    incumbent), or why they could not be had. Model usage goes under "second look"."""
    base = tmp / SECOND_LOOK
    try:
        view = rows_view(w.task, w.selection, base / "view", set(ids))
    except TaskError as exc:
        return str(exc)
    home = w.rundir.gen_dir(incumbent.number)
    runs = (
        ("incumbent", home, w.rundir.adapter(incumbent.adapter_gen)),
        ("candidate", tmp, candidate_adapter),
    )
    rewards: dict[str, Rewards] = {}
    try:
        for who, where, adapter in runs:
            try:
                python = python_for(where / "requirements.txt")
            except EnvError as exc:
                return f"the {who}'s environment: {exc}"
            w.serving.serve(adapter, w.reporter)
            outcome = w.executor.run_split(
                number, f"second look ({who})", view, where / "target_agent.py",
                base / who, python, None,
            )  # fmt: skip
            record = usage.setdefault("second look", {})
            add_usage(record, outcome.usage)
            calls = ModelCalls.of(outcome.usage)
            if outcome.error or calls.mostly_failed:
                return f"the {who} failed on the extra rows: {outcome.error or calls.text()}"
            rewards[who] = {str(i.id): i.reward for i in outcome.evaluation.items}
    finally:
        shutil.rmtree(base / "view", ignore_errors=True)
    return rewards["candidate"], rewards["incumbent"]
