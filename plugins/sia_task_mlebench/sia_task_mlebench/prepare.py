"""Turn a competition zip into a task directory: MLE-bench's split, an evaluator, a baseline."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
from dataclasses import asdict, dataclass, replace
from importlib.resources import files
from pathlib import Path

from sia_core.api.tasks import atomic_dir, cache_dir
from sia_task_mlebench.kaggle_zip import CompetitionError, Table, read_competition_zip
from sia_task_mlebench.recipes import KNOWN, METRICS, Recipe

FILES = Path(str(files("sia_task_mlebench") / "files"))


def prepared_root() -> Path:
    """Where prepared competitions live, each in a folder named after it."""
    return cache_dir() / "tasks" / "mlebench"


def default_location(competition: str) -> Path:
    return prepared_root() / competition


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) row indices exactly as sklearn's train_test_split(test_size=fraction,
    random_state=seed) draws them, which is how MLE-bench splits."""
    import numpy as np

    n_test = math.ceil(fraction * n)
    if not 0 < n_test < n:
        raise CompetitionError(f"train.csv has {n} rows: too few to hold out {fraction:.0%}")
    permutation = np.random.RandomState(seed).permutation(n).tolist()
    return permutation[n_test:], permutation[:n_test]


@dataclass(frozen=True)
class Grading:
    """What the evaluator needs; public (it sits next to evaluate.py)."""

    metric: str
    id_column: str
    targets: list[str]
    """Submission columns that are scored."""
    label_column: str | None = None
    """Multiclass log-loss: the answers column whose value names the right target column."""
    mlebench_rule: bool = True
    """MLE-bench's grader: a submission missing a test row is invalid (no score, with the
    reason) and the score is rounded to 5 decimals; False counts missing rows as wrong."""


def _grading(recipe: Recipe, train: Table, sample: Table) -> Grading:
    id_column, targets = sample.header[0], sample.header[1:]
    if id_column not in train.header:
        raise CompetitionError(
            f"the sample submission's id column {id_column!r} is not in train.csv"
        )
    if not targets:
        raise CompetitionError("the sample submission has no column to predict")
    if all(t in train.header for t in targets):
        grading = Grading(recipe.metric, id_column, targets)
    elif recipe.label_column and recipe.label_column in train.header:
        if recipe.metric != "logloss":
            raise CompetitionError("one probability column per class is scored by logloss only")
        classes = set(train.column(recipe.label_column))
        if not classes <= set(targets):
            raise CompetitionError(
                f"train.csv {recipe.label_column!r} has classes the sample submission lacks"
            )
        grading = Grading(recipe.metric, id_column, targets, recipe.label_column)
    else:
        missing = [t for t in targets if t not in train.header]
        raise CompetitionError(
            f"sample submission columns {missing} are not in train.csv; if they are class "
            "probabilities, name the class column with --label-column"
        )
    if grading.label_column is None and recipe.metric != "accuracy":
        for target in targets:
            values = train.column(target)
            try:
                numbers = {float(v) for v in values}
            except ValueError:
                raise CompetitionError(
                    f"{recipe.metric} needs numeric {target!r} values in train.csv"
                ) from None
            if recipe.metric in ("auc", "logloss") and not numbers <= {0.0, 1.0}:
                raise CompetitionError(f"{recipe.metric} needs 0/1 labels in {target!r}")
    return grading


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _task_md(
    competition: str,
    recipe: Recipe,
    grading: Grading,
    train: Table,
    n_test: int,
    input_columns: list[str],
    description: str,
) -> str:
    answer = grading.label_column or ", ".join(grading.targets)
    lines = [
        f"# {competition} (Kaggle, MLE-bench split)",
        "",
        f"Kaggle's labelled training set, split the way MLE-bench does: "
        f"{recipe.test_fraction:.0%} of it (seed {recipe.seed}) is held out as the test set.",
        "",
        "## Data (in `dataset_dir`)",
        "",
        f"- `train.csv`: {len(train.rows)} labelled rows; the answer is in {answer}",
        f"- `test.csv`: {n_test} rows to predict, columns {', '.join(input_columns)}",
        "- `sample_submission.csv`: the submission format",
        "",
        "## What to write",
        "",
        f"`submission.csv` in `working_dir`, with the header "
        f"`{','.join([grading.id_column, *grading.targets])}` and one row per test row.",
        "",
        "## Score",
        "",
        f"`{recipe.metric}` ({recipe.direction}imise): {METRICS[recipe.metric][1]}.",
    ]
    if recipe.metric == "accuracy" and grading.mlebench_rule:
        lines.append(
            "A submission missing any test row is invalid and gets no score (MLE-bench's rule)."
        )
    elif recipe.metric == "accuracy":
        lines.append("A missing row counts as wrong.")
    else:
        lines.append("Every test id needs a numeric prediction, or the submission is refused.")
    lines += [
        "",
        "## Model and rules",
        "",
        "Train any model on `train.csv` (list extra packages in `requirements.txt`). A harness",
        "that calls a language model uses the endpoint in `SIA_BASE_URL` (OpenAI-compatible,",
        "key in `SIA_API_KEY`, model in `SIA_MODEL`) with the row id as the header `X-SIA-Item`.",
    ]
    if description.strip():
        lines += ["", "## Competition description", "", description.strip()]
    return "\n".join(lines) + "\n"


def _toml(value: str) -> str:
    """A TOML basic string: column names and competition ids come from the archive, and
    a quote or backslash in one must not break (or add to) task.toml."""
    return json.dumps(value)


def _task_toml(competition: str, recipe: Recipe, grading: Grading) -> str:
    text = (
        f"[task]\nname = {_toml(competition)}\n"
        f"description = {_toml(f'Kaggle {competition}, MLE-bench split, {recipe.metric}')}\n\n"
        f"[metric]\nkey = {_toml(recipe.metric)}\ndirection = {_toml(recipe.direction)}\n\n"
        "[limits]\nagent_timeout_s = 3600\neval_timeout_s = 300\nmemory_mb = 8192\n"
        "max_processes = 128\n"
    )
    if grading.label_column is None and len(grading.targets) == 1:
        text += (
            "\n# Selection on 10% of train.csv: the test score is held out.\n"
            '[validation]\nsource = "train.csv"\ninputs = "test.csv"\nanswers = "test.csv"\n'
            f"id_column = {_toml(grading.id_column)}\nlabel_column = {_toml(grading.targets[0])}\n"
            "fraction = 0.1\nseed = 0\n"
        )
    else:
        text += "\n# Several answer columns: no validation split; selection runs on test.\n"
    text += (
        "\n# `--parallel N`: test.csv's rows cut into N sandboxes, submission.csv put back.\n"
        '[parallel]\ninputs = "test.csv"\noutputs = ["submission.csv"]\n'
    )
    return text


def prepare(
    competition: str,
    zip_path: Path,
    out: Path | None = None,
    *,
    metric: str | None = None,
    label_column: str | None = None,
    description: str = "",
    force: bool = False,
    mlebench_rule: bool = True,
) -> Path:
    """Write the task directory for `competition` from its zip; return its path."""
    recipe = KNOWN.get(competition)
    if recipe is None:
        if metric is None:
            raise CompetitionError(
                f"{competition!r} has no built-in recipe; give its metric with --metric "
                f"({', '.join(METRICS)})"
            )
        recipe = Recipe(metric=metric, label_column=label_column)
    elif metric is not None and metric != recipe.metric:
        raise CompetitionError(f"{competition} is scored by {recipe.metric}, not {metric}")
    dest = (out or default_location(competition)).resolve()
    if dest.exists():
        if not force:
            raise CompetitionError(f"{dest} already exists; add --force to prepare it again")
        shutil.rmtree(dest)
    found = read_competition_zip(zip_path)
    train, sample = found.train, found.sample_submission
    grading = replace(_grading(recipe, train, sample), mlebench_rule=mlebench_rule)
    train_idx, test_idx = holdout_indices(len(train.rows), recipe.test_fraction, recipe.seed)
    answer_columns = [grading.label_column] if grading.label_column else grading.targets
    inputs = [c for c in train.header if c not in answer_columns]
    keep = [train.header.index(c) for c in inputs]
    test_rows = [train.rows[i] for i in test_idx]
    id_index = train.header.index(grading.id_column)
    placeholder = sample.rows[0][1:] if sample.rows else ["0"] * len(grading.targets)
    with atomic_dir(dest) as tmp:
        public, private = tmp / "data" / "public", tmp / "data" / "private"
        _write(public / "train.csv", train.header, [train.rows[i] for i in train_idx])
        _write(public / "test.csv", inputs, [[row[i] for i in keep] for row in test_rows])
        _write(
            public / "sample_submission.csv",
            sample.header,
            [[row[id_index], *placeholder] for row in test_rows],
        )
        _write(private / "test.csv", train.header, test_rows)
        (public / "grading.json").write_text(json.dumps(asdict(grading), indent=2) + "\n")
        shutil.copy2(FILES / "evaluate.py", public / "evaluate.py")
        (public / "task.md").write_text(
            _task_md(competition, recipe, grading, train, len(test_rows), inputs, description),
            encoding="utf-8",
        )
        (tmp / "reference").mkdir()
        shutil.copy2(FILES / "agent.py", tmp / "reference" / "reference_target_agent.py")
        (tmp / "task.toml").write_text(_task_toml(competition, recipe, grading))
        provenance = {
            "competition": competition,
            "zip": str(zip_path.resolve()),
            "zip_sha256": hashlib.sha256(zip_path.read_bytes()).hexdigest(),
            "recipe": asdict(recipe),
            "split": "MLE-bench's (verified)" if recipe.verified else "generic MLE-bench recipe",
        }
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return dest
