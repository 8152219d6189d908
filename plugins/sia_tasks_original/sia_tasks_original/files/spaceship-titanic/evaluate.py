#!/usr/bin/env python3
"""Accuracy of submission.csv against data/private/test.csv (MLE-bench's grader: accuracy).

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)
Items carry the passenger id and a status; never the true label.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent
TRUTH = {"true": "True", "1": "True", "1.0": "True", "false": "False", "0": "False", "0.0": "False"}


def fail(message: str) -> None:
    sys.exit(f"evaluate.py: {message}")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    path = args.gen_dir / "submission.csv"
    if not path.is_file():
        fail("no submission.csv in the working directory (header PassengerId,Transported)")
    try:
        rows = read_rows(path)
    except (csv.Error, UnicodeDecodeError) as exc:
        fail(f"submission.csv is not a readable CSV: {exc}")
    if rows and not {"PassengerId", "Transported"} <= set(rows[0]):
        fail(f"submission.csv needs the columns PassengerId,Transported, has {list(rows[0])}")
    predicted: dict[str, str] = {}
    for row in rows:
        value = (row["Transported"] or "").strip().lower()
        predicted.setdefault((row["PassengerId"] or "").strip(), TRUTH.get(value, ""))
    gold = read_rows(DATA / "private" / "test.csv")
    counts = {"correct": 0, "incorrect": 0, "missing": 0, "invalid": 0}
    items = []
    for passenger in gold:
        guess = predicted.get(passenger["PassengerId"])
        if guess is None:
            status = "missing"
        elif not guess:
            status = "invalid"
        else:
            truth = TRUTH.get(passenger["Transported"].strip().lower())
            status = "correct" if guess == truth else "incorrect"
        counts[status] += 1
        items.append({"id": passenger["PassengerId"], "status": status})
    summary = {"accuracy": counts["correct"] / len(gold), "total": len(gold), **counts}
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"accuracy {summary['accuracy']:.4f} ({counts['correct']}/{len(gold)}); {counts}")


if __name__ == "__main__":
    main()
