#!/usr/bin/env python3
"""Exact-match accuracy of predictions.csv (id,answer) against data/private/answers.csv.

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)
"""

import argparse
import csv
import json
from pathlib import Path

ANSWERS = Path(__file__).resolve().parent.parent / "private" / "answers.csv"


def read(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["id"]: (row.get("answer") or "").strip() for row in csv.DictReader(fh)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    gold = read(ANSWERS)
    submission = args.gen_dir / "predictions.csv"
    if not submission.is_file():
        raise SystemExit("no predictions.csv in the working directory")
    try:
        predicted = read(submission)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise SystemExit(f"predictions.csv is malformed: {exc}") from None
    items = []
    for item_id, answer in gold.items():
        guess = predicted.get(item_id)
        status = "missing" if guess is None else "correct" if guess == answer else "incorrect"
        items.append({"id": item_id, "status": status})  # statuses only, never the answer
    correct = sum(item["status"] == "correct" for item in items)
    summary = {"accuracy": correct / len(items), "correct": correct, "total": len(items)}
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"accuracy {summary['accuracy']:.4f} ({correct}/{len(items)})")


if __name__ == "__main__":
    main()
