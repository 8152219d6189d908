#!/usr/bin/env python3
"""Score predictions.csv against data/private/answers.csv; write results.json.

Usage: python evaluate.py --gen-dir DIR
"""

import argparse
import csv
import json
from pathlib import Path

ANSWERS = Path(__file__).resolve().parent.parent / "private" / "answers.csv"


def read(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["id"]: row["label"] for row in csv.DictReader(fh)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    answers = read(ANSWERS)
    submission = args.gen_dir / "predictions.csv"
    try:
        predicted = read(submission) if submission.is_file() else {}
    except (KeyError, csv.Error, UnicodeDecodeError) as exc:
        raise SystemExit(f"predictions.csv is malformed: {exc}") from None
    items = []
    for item_id, gold in answers.items():
        guess = predicted.get(item_id)
        status = "missing" if guess is None else ("correct" if guess == gold else "incorrect")
        # Statuses only: the gold label never appears in results.json.
        items.append({"id": item_id, "status": status})
    correct = sum(item["status"] == "correct" for item in items)
    summary = {"accuracy": correct / len(items), "correct": correct, "total": len(items)}
    (args.gen_dir / "results.json").write_text(
        json.dumps({"summary": summary, "items": items}, indent=2), encoding="utf-8"
    )
    print(f"accuracy {summary['accuracy']:.4f} ({correct}/{len(items)})")


if __name__ == "__main__":
    main()
