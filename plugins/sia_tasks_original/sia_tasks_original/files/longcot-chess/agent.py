#!/usr/bin/env python3
"""Reference harness for LongCoT chess: each prompt as given, `solution = ...` parsed back."""

import argparse
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from openai import OpenAI

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])


def parse(text: str) -> object:
    found = re.findall(r"solution\s*=\s*(.+)", text, re.IGNORECASE)
    if not found:
        return None
    value = found[-1].strip().rstrip(".")
    if value.startswith("["):
        return [m for m in re.findall(r"[^\s,\[\]\"'`]+", value.split("]")[0])]
    number = re.match(r"-?\d+", value.strip("\"'`"))
    return int(number.group()) if number else value


def solve(question: dict) -> dict:
    try:
        reply = client.chat.completions.create(
            model=os.environ["SIA_MODEL"],
            messages=[{"role": "user", "content": question["prompt"]}],
            temperature=0,
            extra_headers={"X-SIA-Item": question["question_id"]},
        )
        text = reply.choices[0].message.content or ""
    except Exception as exc:  # one failed call costs one question, not the run
        return {"question_id": question["question_id"], "solution": None, "error": str(exc)}
    return {"question_id": question["question_id"], "solution": parse(text), "model_response": text}


questions = json.loads((args.dataset_dir / "chess_hard.json").read_text("utf-8"))
with ThreadPoolExecutor(16) as pool:
    responses = list(pool.map(solve, questions))
(args.working_dir / "responses.json").write_text(json.dumps(responses, indent=1))
print(f"{sum(r['solution'] is not None for r in responses)}/{len(responses)} answers parsed")
