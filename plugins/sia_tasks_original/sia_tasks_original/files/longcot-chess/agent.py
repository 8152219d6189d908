#!/usr/bin/env python3
"""Reference harness for LongCoT chess: each prompt as given, `solution = ...` parsed back.

The constants marked `# sia-knob:` are what sia's offline harness lever tunes for
whatever model is served; their values here reproduce the original reference (the
prompt as given, one greedy answer, the last `solution = ...` read back). VOTES > 1 asks
that many times at TEMPERATURE and keeps the most common parsed solution; EXTRACT picks
which `solution =` line counts; REMINDER appends the answer format to the prompt.
Selection here is the test split (as the original does): a gain is selected on test.
"""

import argparse
import json
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from openai import OpenAI

VOTES = 1  # sia-knob: int 1..5
TEMPERATURE = 0.0  # sia-knob: float 0.0..1.0
EXTRACT = "last"  # sia-knob: choice last|first
REMINDER = "none"  # sia-knob: choice none|format
FORMAT = "\n\nEnd your reply with one line: solution = <your answer>."

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])


def parse(text: str) -> object:
    found = re.findall(r"solution\s*=\s*(.+)", text, re.IGNORECASE)
    if not found:
        return None
    value = (found[-1] if EXTRACT == "last" else found[0]).strip().rstrip(".")
    if value.startswith("["):
        return [m for m in re.findall(r"[^\s,\[\]\"'`]+", value.split("]")[0])]
    number = re.match(r"-?\d+", value.strip("\"'`"))
    return int(number.group()) if number else value


def solve(question: dict) -> dict:
    prompt = question["prompt"] + (FORMAT if REMINDER == "format" else "")
    texts = []
    for _ in range(VOTES):
        try:
            reply = client.chat.completions.create(
                model=os.environ["SIA_MODEL"],
                messages=[{"role": "user", "content": prompt}],
                temperature=TEMPERATURE,
                extra_headers={"X-SIA-Item": question["question_id"]},
            )
        except Exception as exc:  # one failed call costs one question, not the run
            if not texts:
                return {"question_id": question["question_id"], "solution": None,
                        "error": str(exc)}  # fmt: skip
            continue
        texts.append(reply.choices[0].message.content or "")
    parsed = [parse(t) for t in texts]
    votes = Counter(json.dumps(p) for p in parsed if p is not None)
    solution = json.loads(votes.most_common(1)[0][0]) if votes else None
    return {"question_id": question["question_id"], "solution": solution,
            "model_response": texts[-1]}  # fmt: skip


questions = json.loads((args.dataset_dir / "chess_hard.json").read_text("utf-8"))
with ThreadPoolExecutor(16) as pool:
    responses = list(pool.map(solve, questions))
(args.working_dir / "responses.json").write_text(json.dumps(responses, indent=1))
print(f"{sum(r['solution'] is not None for r in responses)}/{len(responses)} answers parsed")
