#!/usr/bin/env python3
"""Reference harness for GPQA: one zero-shot question per call, a letter parsed back."""

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
MODEL = os.environ["SIA_MODEL"]


def ask(question: dict) -> dict:
    options = "\n".join(f"{k}) {v}" for k, v in sorted(question["options"].items()))
    prompt = (
        f"{question['Question'].strip()}\n\n{options}\n\n"
        "Think briefly, then end with a line 'Answer: X' where X is A, B, C or D."
    )
    try:
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            temperature=0,
            extra_headers={"X-SIA-Item": str(question["id"])},
        )
    except Exception as exc:  # one failed call costs one question, not the run
        return {"question_id": question["id"], "error": f"{type(exc).__name__}: {exc}"}
    text = reply.choices[0].message.content or ""
    found = re.findall(r"answer\W*\(?([ABCD])\b", text, re.IGNORECASE) or re.findall(
        r"\b([ABCD])\b", text
    )
    answer = found[-1].upper() if found else ""
    return {"question_id": question["id"], "model_answer": answer, "model_answer_raw": text}


questions = json.loads((args.dataset_dir / "diamond_questions.json").read_text("utf-8"))
with ThreadPoolExecutor(16) as pool:
    details = list(pool.map(ask, questions))
(args.working_dir / "submission.json").write_text(
    json.dumps({"model": MODEL, "details": details}, indent=1)
)
print(f"answered {sum('model_answer' in d for d in details)}/{len(details)} questions")
