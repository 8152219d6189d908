#!/usr/bin/env python3
"""Exact-match score of responses.json against data/private/answers.json.

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)
Items carry the question id, status and problem type; never the expected solution.
"""

import argparse
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent


def fail(message: str) -> None:
    sys.exit(f"evaluate.py: {message}")


def find_submission(gen_dir: Path) -> Path:
    if (gen_dir / "responses.json").is_file():
        return gen_dir / "responses.json"
    # Harnesses written for the original SIA may save results/<name>.json.
    found = sorted((gen_dir / "results").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        fail("no responses.json in the working directory (see task.md for its format)")
    return found[-1]


def matches(predicted: object, expected: object) -> bool:
    if predicted is None:
        return False
    if isinstance(expected, list):
        if not isinstance(predicted, list) or len(predicted) != len(expected):
            return False
        got = [str(move).strip() for move in predicted]
        return got == expected or set(got) == set(expected)
    if isinstance(predicted, (list, dict, bool)):
        return False
    return str(predicted).strip() == str(expected).strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    gold = json.loads((DATA / "private" / "answers.json").read_text("utf-8"))
    kinds = {
        q["question_id"]: q.get("problem", {}).get("template", "")
        for q in json.loads((DATA / "public" / "chess_hard.json").read_text("utf-8"))
    }
    path = find_submission(args.gen_dir)
    try:
        responses = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path.name} is not valid JSON: {exc}")
    if not isinstance(responses, list):
        fail(f"{path.name} must be a JSON list of {{question_id, solution}} objects")
    given = {
        r["question_id"]: r.get("solution")
        for r in responses
        if isinstance(r, dict) and "question_id" in r
    }
    counts = {"correct": 0, "wrong": 0, "failed": 0, "missing": 0}
    items = []
    for qid, expected in gold.items():
        if qid not in given:
            status = "missing"
        elif given[qid] is None:
            status = "failed"
        else:
            status = "correct" if matches(given[qid], expected) else "wrong"
        counts[status] += 1
        items.append({"id": qid, "status": status, "group": kinds.get(qid, "")})
    summary = {"accuracy": counts["correct"] / len(gold), "total": len(gold), **counts}
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"accuracy {summary['accuracy']:.4f} ({counts['correct']}/{len(gold)}); {counts}")


if __name__ == "__main__":
    main()
