"""`sia task new`: a complete task directory from a labelled CSV file (or a commented
example to replace), in the SIA layout with a validation split, a public/private split,
an evaluator writing the standard results.json and a reference harness that calls the
task model through the gateway."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from importlib.resources import files
from pathlib import Path
from string import Template

from sia_core.errors import SiaError
from sia_core.store import atomic_dir

METRICS = {
    "accuracy": "the share of rows whose predicted label is the answer",
    "macro_f1": "the F1 score of each label, averaged over the labels",
}
TEST_FRACTION = 0.2
"""Labelled rows set aside as the test split (their labels go to data/private/)."""
VALIDATION_FRACTION = 0.2
"""Of the rest, rows sia carves out for selection at run time."""
SEED = 0
EXAMPLE = """id,text,label
1,"A delight from start to finish, I would watch it again",positive
2,"Dull, slow and far too long",negative
3,"The best meal I have had in years",positive
4,"Broke after two days; the seller never answered",negative
5,"Exactly what I hoped for, and cheaper than elsewhere",positive
6,"I want my money back",negative
7,"Friendly staff and a lovely room",positive
8,"Not worth the wait",negative
9,"Works perfectly, setup took a minute",positive
10,"Cold food and a rude waiter",negative
11,"I would recommend it to anyone",positive
12,"The worst film of the year",negative
13,"Sturdy, quiet and easy to clean",positive
14,"It stopped charging within a week",negative
15,"A wonderful surprise",positive
16,"Boring from the first page",negative
"""


def _template(template: str, **values: object) -> str:
    text = (files("sia_core.tasks") / "templates" / f"{template}.txt").read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def _read(text: str, source: str) -> tuple[list[str], list[dict[str, str]]]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
    except csv.Error as exc:
        raise SiaError(f"{source} is not a readable CSV file ({exc}); fix it and retry") from None
    return list(reader.fieldnames or []), rows


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


TEXT_KNOBS = """ANALYZER = "word"  # sia-knob: choice word|char
NGRAM_MAX = 2  # sia-knob: int 1..3
MIN_DF = 1  # sia-knob: int 1..5
C = 1.0  # sia-knob: float 0.01..10.0"""
TABULAR_KNOBS = """TREES = 200  # sia-knob: int 50..600
LEARNING_RATE = 0.1  # sia-knob: float 0.01..0.3
MAX_LEAF_NODES = 31  # sia-knob: int 4..64
MIN_LEAF = 20  # sia-knob: int 1..60
C = 1.0  # sia-knob: float 0.01..10.0"""
REQUIREMENTS = """# The classical path (METHOD other than llm): installed from wheels into this
# harness's own environment, never into sia's.
scikit-learn==1.9.1
"""
TEXT_MIN_CHARS = 20
"""A column is free text when its values average at least this many characters and are
mostly distinct and not numbers."""


def text_column(columns: list[str], rows: list[dict[str, str]]) -> str | None:
    """The free-text column of the data (the longest on average), or None when the data
    is tabular: what decides the classical path `sia task new` writes."""
    best, best_length = None, 0.0
    for column in columns:
        values = [(r.get(column) or "").strip() for r in rows]
        filled = [v for v in values if v]
        if not filled:
            continue
        numbers = sum(_is_number(v) for v in filled)
        length = sum(len(v) for v in filled) / len(filled)
        distinct = len(set(filled)) / len(filled)
        is_text = numbers < 0.5 * len(filled) and length >= TEXT_MIN_CHARS and distinct >= 0.5
        if is_text and length > best_length:
            best, best_length = column, length
    return best


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def new_task(
    dest: Path,
    from_csv: Path | None = None,
    id_column: str = "id",
    label_column: str = "label",
    metric: str = "accuracy",
) -> Path:
    """Write the task directory `dest` (which must not exist) and return it."""
    dest = dest.expanduser().resolve()
    if dest.exists():
        raise SiaError(f"{dest} already exists; sia task new never overwrites: pick a new name")
    name = dest.name
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        raise SiaError(f"task name {name!r}: use letters, digits, '.', '_' and '-'")
    if metric not in METRICS:
        raise SiaError(f"--metric {metric!r}: choose one of {', '.join(METRICS)}")
    if from_csv is None:
        text, source = EXAMPLE, "the built-in example"
        description = "An example classification task: replace its data with yours."
    else:
        if not from_csv.is_file():
            raise SiaError(f"--from-csv {from_csv}: no such file")
        text, source = from_csv.read_text(encoding="utf-8-sig"), str(from_csv)
        description = f"Label the rows of {from_csv.name}."
    columns, rows = _read(text, source)
    for flag, column in (("--id-column", id_column), ("--label-column", label_column)):
        if column not in columns:
            raise SiaError(
                f"{source} has no column {column!r} (columns: {', '.join(columns) or 'none'}); "
                f"name the right one with {flag}"
            )
    if id_column == label_column:
        raise SiaError("--id-column and --label-column name the same column; give two")
    rows = [r for r in rows if (r.get(id_column) or "").strip()]
    ids = [r[id_column] for r in rows]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise SiaError(f"{source}: id {duplicate!r} appears twice; ids must be unique")
    if len(rows) < 10:
        raise SiaError(f"{source} has {len(rows)} labelled rows; a task needs at least 10")
    order = list(range(len(rows)))
    random.Random(SEED).shuffle(order)
    n_test = max(1, round(len(rows) * TEST_FRACTION))
    test = [rows[i] for i in sorted(order[:n_test])]
    train = [rows[i] for i in sorted(order[n_test:])]
    inputs_columns = [c for c in columns if c != label_column]
    labels = sorted({r[label_column] for r in train})
    text = text_column([c for c in inputs_columns if c != id_column], train)
    values = {
        "text_column": json.dumps(text) if text else "None",
        "methods": "llm|tfidf_logreg|tfidf_svm" if text else "llm|gbm|logreg|forest",
        "classical_knobs": TEXT_KNOBS if text else TABULAR_KNOBS,
        "classical_doc": (
            f"TF-IDF over the free-text column {text!r} and a linear classifier"
            if text
            else "gradient boosting, logistic regression or a random forest over the "
            "columns (numbers as numbers, the others one-hot)"
        ),
        "name": name,
        "description": description.replace('"', "'"),
        "metric": metric,
        "metric_doc": METRICS[metric],
        "id_column": id_column,
        "label_column": label_column,
        "source": "train.csv",
        "inputs": "test.csv",
        "answers": "answers.csv",
        "fraction": VALIDATION_FRACTION,
        "fraction_pct": f"{VALIDATION_FRACTION:.0%}",
        "n_train": len(train),
        "n_test": len(test),
        "columns": ", ".join(f"`{c}`" for c in columns),
        "labels": ", ".join(labels[:20]) + (", ..." if len(labels) > 20 else ""),
    }
    with atomic_dir(dest) as tmp:
        public, private = tmp / "data" / "public", tmp / "data" / "private"
        _write(public / "train.csv", columns, train)
        _write(public / "test.csv", inputs_columns, test)
        _write(private / "answers.csv", [id_column, label_column], test)
        (public / "task.md").write_text(_template("task.md", **values), encoding="utf-8")
        (public / "evaluate.py").write_text(_template("evaluate.py", **values), encoding="utf-8")
        (tmp / "task.toml").write_text(_template("task.toml", **values), encoding="utf-8")
        reference = tmp / "reference" / "reference_target_agent.py"
        reference.parent.mkdir()
        reference.write_text(_template("reference_target_agent.py", **values), encoding="utf-8")
        (reference.parent / "requirements.txt").write_text(REQUIREMENTS, encoding="utf-8")
    return dest
