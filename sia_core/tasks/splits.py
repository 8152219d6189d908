"""Carving a selection split out of a task's labelled public data.

The selection view is a copy of the task in which the agent predicts on held-out
labelled rows and the evaluator scores them, so generations are selected without
touching the test answers. The test view is the task directory itself.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from sia_core.store import atomic_dir
from sia_core.tasks.task import ShardSpec, Task, TaskError, ValidationSplit, load_task_dir


def read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return list(reader.fieldnames or []), list(reader)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    columns = list(rows[0]) if rows else []
    return columns, rows


def _write_rows(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    # A shard's files are hard links to its view's: replace a file, never write through.
    path.unlink(missing_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        return
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({c: row.get(c) for c in columns}) + "\n")


def carve(
    split: ValidationSplit,
    public: Path,
    private: Path,
    dest: Path,
    held_ids: set[str] | None = None,
) -> int:
    """Write the selection view's public and private files into `dest`; return its size.
    `held_ids`: the rows to hold out, by id, instead of the split's seeded draw."""
    source_cols, source_rows = read_rows(public / split.source)
    for column in (split.id_column, split.label_column):
        if column not in source_cols:
            raise TaskError(
                f"task.toml [validation]: column {column!r} is not in {split.source} "
                f"(columns: {', '.join(source_cols)})"
            )
    if held_ids is not None:
        held_idx = {
            i for i, row in enumerate(source_rows) if str(row.get(split.id_column)) in held_ids
        }
        n_held = len(held_idx)
        if not 0 < n_held < len(source_rows):
            raise TaskError(f"{split.source}: no rows, or every row, hold the ids asked for")
    else:
        order = list(range(len(source_rows)))
        random.Random(split.seed).shuffle(order)
        n_held = max(1, round(len(source_rows) * split.fraction))
        if n_held >= len(source_rows):
            raise TaskError(f"task.toml [validation]: {split.source} has too few rows to split")
        held_idx = set(order[:n_held])
    held = [row for i, row in enumerate(source_rows) if i in held_idx]
    kept = [row for i, row in enumerate(source_rows) if i not in held_idx]

    input_cols, _ = read_rows(public / split.inputs)
    input_cols = [c for c in input_cols if c != split.label_column] or [
        c for c in source_cols if c != split.label_column
    ]
    answer_cols, _ = read_rows(private / split.answers)
    answer_label = split.answer_label_column or split.label_column
    answer_cols = answer_cols or [split.id_column, answer_label]
    answers = [{**row, answer_label: row[split.label_column]} for row in held]

    _, old_inputs = read_rows(public / split.inputs)
    _write_rows(dest / "data" / "public" / split.source, source_cols, kept)
    _write_rows(dest / "data" / "public" / split.inputs, input_cols, held)
    _write_rows(dest / "data" / "private" / split.answers, answer_cols, answers)
    old_ids = {str(row.get(split.id_column)) for row in old_inputs}
    new_ids = [str(row[split.id_column]) for row in held]
    _match_id_lists(split, dest / "data" / "public", old_ids, new_ids)
    _restate_counts(
        dest / "data" / "public" / "task.md",
        {len(source_rows): len(kept), len(old_inputs): len(held)},
    )
    return n_held


def _match_id_lists(
    split: ValidationSplit, public: Path, old_ids: set[str], new_ids: list[str]
) -> None:
    """Rebuild every other public table that lists the replaced inputs' ids (a
    sample_submission.csv) for the view's ids; refuse one that lists them under another
    column, since a harness would then write rows for the wrong items."""
    if not old_ids:
        return
    for path in sorted(public.rglob("*")):
        if path.suffix not in (".csv", ".jsonl") or path.name in (split.source, split.inputs):
            continue
        try:
            columns, rows = read_rows(path)
        except (ValueError, UnicodeDecodeError, csv.Error):
            continue
        for column in columns:
            values = {str(row.get(column)) for row in rows}
            if len(values & old_ids) * 2 < len(old_ids):
                continue
            if column != split.id_column:
                raise TaskError(
                    f"{path.name} lists the test ids of {split.inputs} in column {column!r}; "
                    f"the carved selection view cannot rebuild it: name that column "
                    f"{split.id_column!r}, or remove the file from data/public"
                )
            template = rows[0] if rows else {}
            rebuilt = [{**template, column: item} for item in new_ids]
            _write_rows(path, columns, rebuilt)
            break


def _restate_counts(task_md: Path, counts: dict[int, int]) -> None:
    """Replace the original's item counts in the view's task.md ("5,332 labelled cases")
    with the view's, so no public text states a count the view does not have."""
    if not task_md.is_file():
        return
    text = task_md.read_text(encoding="utf-8")
    for old, new in counts.items():
        if old < 10 or old == new:
            continue  # small numbers are too likely to mean something else
        for shown in {f"{old:,}", str(old), f"{old:,}".replace(",", " ")}:
            text = re.sub(rf"(?<![\d.,]){re.escape(shown)}(?![\d]|[.,]\d)", f"{new:,}", text)
    task_md.unlink()
    task_md.write_text(text, encoding="utf-8")


def _copy_task_data(task: Task, dest: Path) -> None:
    shutil.copytree(task.root / "data", dest / "data", dirs_exist_ok=True)
    if task.evaluator.parent == task.root:
        shutil.copy2(task.evaluator, dest / task.evaluator.name)


def _as_view(root: Path, task: Task) -> Task:
    # A view has no task.toml and no reference/; both stay with the original task.
    view = load_task_dir(root)
    return replace(
        view,
        name=task.name,
        config=task.config,
        reference_agent=task.reference_agent,
        samples=task.samples,
    )


def selection_view(task: Task, views_dir: Path) -> Task:
    """The task to select generations on: a carved copy, or the task itself."""
    split = task.config.validation
    prepared = task.config.selection_data
    if split is None and prepared is None:
        return task
    dest = views_dir / "selection"
    if not dest.is_dir():
        with atomic_dir(dest) as tmp:
            _copy_task_data(task, tmp)
            if split is not None:
                carve(split, task.public_dir, task.private_dir, tmp)
            else:
                for part in ("public", "private"):
                    overlay = task.root / str(prepared) / part
                    if overlay.is_dir():
                        shutil.copytree(overlay, tmp / "data" / part, dirs_exist_ok=True)
    return _as_view(dest, task)


def training_view(task: Task, selection: Task, dest: Path, items: int, seed: int) -> Task:
    """Training items for the weights lever: `items` labelled rows drawn (with `seed`)
    from the rows the selection view leaves to the agent, never selection or test rows."""
    split = task.config.validation
    if split is None or selection is task:
        raise TaskError(
            "the weights lever trains on labelled rows carved from public data; "
            "add a [validation] section to task.toml (see docs/tasks.md)"
        )
    _, rows = read_rows(selection.public_dir / split.source)
    fraction = min(items / max(len(rows), 1), 0.5)
    _copy_task_data(selection, dest)
    carve(
        replace(split, fraction=fraction, seed=seed),
        selection.public_dir,
        selection.private_dir,
        dest,
    )
    return _as_view(dest, task)


def rows_view(task: Task, selection: Task, dest: Path, ids: set[str]) -> Task:
    """The labelled rows with these ids (rows the selection view leaves to the agent) as
    the items of a view, carved out of its training file; the rest as in `selection`.
    For asking which training rows the current harness answers right (bootstrapped
    demos), never for a score that is reported."""
    split = task.config.validation
    if split is None or selection is task:
        raise TaskError("rows of the training file are items only with a [validation] section")
    _copy_task_data(selection, dest)
    carve(split, selection.public_dir, selection.private_dir, dest, held_ids=ids)
    return _as_view(dest, task)


def _records(path: Path) -> list[Any] | None:
    """The items of a CSV, JSON-lines or JSON-list file; None for anything else."""
    try:
        if path.suffix == ".csv":
            return read_rows(path)[1]
        if path.suffix == ".jsonl":
            return read_rows(path)[1]
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            return data if isinstance(data, list) else None
    except (ValueError, UnicodeDecodeError, csv.Error):
        return None
    return None


def sample_view(task: Task, dest: Path, items: int) -> Path:
    """A copy of the public data whose item file keeps only its first `items` items.

    For trying a harness on a task without labelled public rows: the item file is the
    largest list-like file, preferring one named like "test", since that is what a
    harness predicts on. Nothing here is scored. Returns the copied public directory.
    """
    public = dest / "data" / "public"
    shutil.copytree(task.public_dir, public)
    best: tuple[tuple[bool, int], Path, list[Any]] | None = None
    for path in sorted(public.rglob("*")):
        if not path.is_file() or "sample_submission" in path.name or path.stem.startswith("train"):
            continue
        records = _records(path)
        if records is None or len(records) <= items:
            continue
        rank = ("test" in path.name, len(records))
        if best is None or rank > best[0]:
            best = (rank, path, records)
    if best is not None:
        _, path, records = best
        if path.suffix == ".json":
            path.write_text(json.dumps(records[:items], ensure_ascii=False), encoding="utf-8")
        else:
            columns, _ = read_rows(path)
            _write_rows(path, columns, records[:items])
    return public


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed there
        shutil.copy2(src, dst)


def shard_views(view: Task, spec: ShardSpec, n: int, dest: Path) -> list[Path]:
    """The public directories of up to `n` shards of `view` (fewer when it has fewer
    rows): each a copy of its public data whose `spec.inputs` keeps one contiguous slice
    of the rows, with its id lists and stated counts made to match. One directory means
    the view is not worth cutting."""
    source = view.public_dir / spec.inputs
    if not source.is_file():
        raise TaskError(f"[parallel] inputs {spec.inputs} is not in {view.public_dir}")
    if source.suffix == ".csv":
        with source.open(newline="", encoding="utf-8") as fh:
            header, *rows = list(csv.reader(fh)) or [[]]
    else:
        header, rows = [], [line for line in source.read_bytes().splitlines() if line.strip()]
    count = min(n, len(rows))
    if count <= 1:
        return [view.public_dir]
    split = view.config.validation
    if split is not None and split.inputs != spec.inputs:
        split = None  # other tables list the ids of the validation split's inputs only
    old_ids = {str(r.get(split.id_column)) for r in read_rows(source)[1]} if split else set()
    publics = []
    for k in range(count):
        part = rows[len(rows) * k // count : len(rows) * (k + 1) // count]
        public = dest / str(k + 1) / "data" / "public"
        shutil.copytree(view.public_dir, public, copy_function=_link_or_copy)
        target = public / spec.inputs
        target.unlink()
        if source.suffix == ".csv":
            with target.open("w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows([header, *part])
        else:
            target.write_bytes(b"".join(line + b"\n" for line in part))
        if split is not None:
            new_ids = [str(r.get(split.id_column)) for r in read_rows(target)[1]]
            _match_id_lists(split, public, old_ids, new_ids)
        _restate_counts(public / "task.md", {len(rows): len(part)})
        publics.append(public)
    return publics


def ids_in(path: Path, column: str | None) -> set[str] | None:
    """The values of `column` (or, when the file has no such column, of its first) in a
    csv or jsonl file; None when it cannot be read as one or has no columns."""
    try:
        columns, rows = read_rows(path)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error):
        return None
    key = column if column in columns else (columns[0] if columns else None)
    return None if key is None else {str(row.get(key)) for row in rows}


def split_items(task: Task, public_dirs: list[Path]) -> set[str] | None:
    """The ids of the items the agent predicts on in these public directories (a split's
    view, or its shards), from the inputs file task.toml names; None when it names none
    or the file cannot be read."""
    config = task.config
    inputs = (config.validation.inputs if config.validation else None) or (
        config.shards.inputs if config.shards else None
    )
    if inputs is None:
        return None
    column = config.validation.id_column if config.validation else None
    ids: set[str] = set()
    for public in public_dirs:
        found = ids_in(public / inputs, column)
        if found is None:
            return None
        ids |= found
    return ids
