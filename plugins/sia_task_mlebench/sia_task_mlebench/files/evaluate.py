#!/usr/bin/env python3
"""Score submission.csv against data/private/test.csv with the metric in grading.json.

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)
Metrics: accuracy, auc, rmse, logloss (binary, or multiclass with one column per class).
Items carry the row id, a status and a reward; never the true value.
"""

import argparse
import csv
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRADING = json.loads((HERE / "grading.json").read_text("utf-8"))
EPS = 1e-15
BOOLS = {"true": "1", "false": "0"}


def fail(message: str) -> None:
    sys.exit(f"evaluate.py: {message}")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def canonical(value: str) -> str:
    text = value.strip()
    text = BOOLS.get(text.lower(), text)
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number)


def number(value: str, where: str) -> float:
    try:
        result = float(BOOLS.get(value.strip().lower(), value))
    except ValueError:
        fail(f"{where}: {value!r} is not a number")
    if math.isnan(result):
        fail(f"{where}: NaN is not a prediction")
    return result


def auc(labels: list[float], scores: list[float]) -> float:
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):  # ties share their average rank
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    if not positives or not negatives:
        fail("AUC is undefined: the answers hold a single class")
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    metric, id_column, targets = GRADING["metric"], GRADING["id_column"], GRADING["targets"]
    label_column = GRADING.get("label_column")
    header = ",".join([id_column, *targets])
    path = args.gen_dir / "submission.csv"
    if not path.is_file():
        fail(f"no submission.csv in the working directory (header {header})")
    try:
        submitted = read_rows(path)
    except (csv.Error, UnicodeDecodeError) as exc:
        fail(f"submission.csv is not a readable CSV: {exc}")
    if submitted and not {id_column, *targets} <= set(submitted[0]):
        fail(f"submission.csv needs the columns {header}, has {','.join(submitted[0])}")
    predicted: dict[str, dict[str, str]] = {}
    for row in submitted:
        predicted.setdefault((row[id_column] or "").strip(), row)
    gold = read_rows(HERE.parent / "private" / "test.csv")
    items = []
    strict = GRADING.get("mlebench_rule", True)
    if metric == "accuracy" and strict:
        # MLE-bench refuses a submission that misses rows: no score, and the reason.
        absent = [row[id_column] for row in gold if row[id_column] not in predicted]
        if absent:
            fail(
                f"invalid submission (MLE-bench's rule): submission.csv lacks {len(absent)} of "
                f"{len(gold)} test ids (first: {absent[0]})"
            )
    if metric == "accuracy":
        correct = 0
        for row in gold:
            guess = predicted.get(row[id_column])
            if guess is None:
                status = "missing"
            else:
                right = all(canonical(guess[t] or "") == canonical(row[t]) for t in targets)
                status = "correct" if right else "incorrect"
            correct += status == "correct"
            items.append({"id": row[id_column], "status": status})
        summary = {"accuracy": correct / len(gold), "correct": correct, "total": len(gold)}
    else:
        missing = [row[id_column] for row in gold if row[id_column] not in predicted]
        if missing:
            fail(
                f"submission.csv lacks {len(missing)} of {len(gold)} test ids (first: {missing[0]})"
            )
        rewards = []
        if metric == "rmse":
            squared = []
            for row in gold:
                guess = predicted[row[id_column]]
                errors = [
                    number(guess[t], f"row {row[id_column]}") - float(row[t]) for t in targets
                ]
                squared += [e * e for e in errors]
                rewards.append(-sum(abs(e) for e in errors) / len(errors))
            value = math.sqrt(sum(squared) / len(squared))
        elif metric == "auc":
            per_column = []
            for t in targets:
                labels = [number(row[t], "answers") for row in gold]
                scores = [
                    number(predicted[row[id_column]][t], f"row {row[id_column]}") for row in gold
                ]
                per_column.append(auc(labels, scores))
            value = sum(per_column) / len(per_column)
            for row in gold:
                guess = predicted[row[id_column]]
                p = [number(guess[t], "") for t in targets]
                y = [number(row[t], "") for t in targets]
                hits = [pi if yi == 1 else 1 - pi for pi, yi in zip(p, y, strict=True)]
                rewards.append(sum(hits) / len(hits))
        elif metric == "logloss":
            losses = []
            for row in gold:
                guess = predicted[row[id_column]]
                if label_column:
                    probs = [max(number(guess[t], f"row {row[id_column]}"), EPS) for t in targets]
                    total = sum(probs)  # rows are normalised, as sklearn does
                    p_true = min(max(probs[targets.index(row[label_column])] / total, EPS), 1 - EPS)
                else:
                    p = min(max(number(guess[targets[0]], f"row {row[id_column]}"), EPS), 1 - EPS)
                    p_true = p if number(row[targets[0]], "answers") == 1 else 1 - p
                losses.append(-math.log(p_true))
                rewards.append(p_true)
            value = sum(losses) / len(losses)
        else:
            fail(f"grading.json names an unknown metric {metric!r}")
        items = [
            {"id": row[id_column], "status": "scored", "reward": reward}
            for row, reward in zip(gold, rewards, strict=True)
        ]
        summary = {metric: value, "total": len(gold)}
    if strict:
        summary[metric] = round(summary[metric], 5)  # as MLE-bench's grader reports it
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"{metric} {summary[metric]:.5f} on {len(gold)} rows")


if __name__ == "__main__":
    main()
