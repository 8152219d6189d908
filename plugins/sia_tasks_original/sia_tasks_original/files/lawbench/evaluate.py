#!/usr/bin/env python3
"""Top-1 charge accuracy of submission.csv against data/private/test.csv.

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)
Items carry the case id and a status; never the true charge.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent


def fail(message: str) -> None:
    sys.exit(f"evaluate.py: {message}")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    path = next(
        (
            args.gen_dir / n
            for n in ("submission.csv", "predictions.csv")
            if (args.gen_dir / n).is_file()
        ),
        None,
    )
    if path is None:
        fail("no submission.csv in the working directory (header id,label)")
    try:
        rows = read_rows(path)
    except (csv.Error, UnicodeDecodeError) as exc:
        fail(f"{path.name} is not a readable CSV: {exc}")
    if rows and "id" not in rows[0]:
        fail(f"{path.name} has no 'id' column (header must be id,label)")
    column = "label" if not rows or "label" in rows[0] else list(rows[0])[-1]
    predicted: dict[str, str] = {}
    for row in rows:
        predicted.setdefault((row["id"] or "").strip(), (row.get(column) or "").strip())
    classes = set(json.loads((DATA / "public" / "classes.json").read_text("utf-8")))
    gold = read_rows(DATA / "private" / "test.csv")
    counts = {"correct": 0, "incorrect": 0, "missing": 0, "invalid": 0}
    items = []
    for case in gold:
        guess = predicted.get(case["id"].strip())
        if guess is None:
            status = "missing"
        elif guess not in classes:
            status = "invalid"
        else:
            status = "correct" if guess == case["label"].strip() else "incorrect"
        counts[status] += 1
        items.append({"id": case["id"], "status": status})
    summary = {"accuracy": counts["correct"] / len(gold), "total": len(gold), **counts}
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"accuracy {summary['accuracy']:.4f} ({counts['correct']}/{len(gold)}); {counts}")


if __name__ == "__main__":
    main()
