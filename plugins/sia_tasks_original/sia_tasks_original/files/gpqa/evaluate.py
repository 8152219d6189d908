#!/usr/bin/env python3
"""Score GPQA answers against data/private/diamond_questions.json.

Usage: python evaluate.py --gen-dir DIR   (reads DIR/submission.json, writes DIR/results.json)
Items carry the question id, status and domain; never the correct letter.
"""

import argparse
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent
LETTERS = ("A", "B", "C", "D")


def fail(message: str) -> None:
    sys.exit(f"evaluate.py: {message}")


def find_submission(gen_dir: Path) -> Path:
    if (gen_dir / "submission.json").is_file():
        return gen_dir / "submission.json"
    # Harnesses written for the original SIA save results/<name>.json.
    found = sorted((gen_dir / "results").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        fail("no submission.json in the working directory (see task.md for its format)")
    return found[-1]


def letter(raw: object) -> str:
    text = str(raw or "").strip().upper()
    return text if text in LETTERS else ""


def answers_of(submission: object) -> dict[str, str]:
    if not isinstance(submission, dict):
        fail("submission.json must be a JSON object with a 'details' list")
    if isinstance(submission.get("details"), list):
        return {
            str(d["question_id"]): letter(d.get("model_answer"))
            for d in submission["details"]
            if isinstance(d, dict) and d.get("question_id") is not None
        }
    if isinstance(submission.get("answers"), dict):
        return {str(k): letter(v) for k, v in submission["answers"].items()}
    fail("submission.json has neither a 'details' list nor an 'answers' object")
    return {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    args = parser.parse_args()
    gold = json.loads((DATA / "private" / "diamond_questions.json").read_text("utf-8"))
    path = find_submission(args.gen_dir)
    try:
        submitted = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path.name} is not valid JSON: {exc}")
    given = answers_of(submitted)
    counts = {"correct": 0, "incorrect": 0, "missing": 0, "invalid": 0}
    items = []
    for question in gold:
        qid = str(question["id"])
        if qid not in given:
            status = "missing"
        elif not given[qid]:
            status = "invalid"
        else:
            right = given[qid] == question["correct_answer_letter"]
            status = "correct" if right else "incorrect"
        counts[status] += 1
        items.append({"id": qid, "status": status, "group": question.get("domain", "")})
    attempted = counts["correct"] + counts["incorrect"]
    summary = {
        "accuracy": counts["correct"] / len(gold),
        "accuracy_attempted": counts["correct"] / attempted if attempted else 0.0,
        "total": len(gold),
        **counts,
    }
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"accuracy {summary['accuracy']:.4f} ({counts['correct']}/{len(gold)}); {counts}")


if __name__ == "__main__":
    main()
