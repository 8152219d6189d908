#!/usr/bin/env python3
"""Reference harness for sentiment: a question per review, one word back.

The constants marked `# sia-knob:` are what sia's offline harness lever tunes (see
docs/tasks.md, "Harness knobs"); their values here are the reference setting: zero-shot,
one greedy answer.
"""

import argparse
import csv
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from openai import OpenAI

SHOTS = 0  # sia-knob: int 0..8
DEMO_IDS = []  # sia-knob: demos train.csv:id 0..8
QUESTION = "plain"  # sia-knob: choice plain|careful
VOTES = 1  # sia-knob: int 1..7
TEMPERATURE = 0.0  # sia-knob: float 0.0..1.0
ASK = {
    "plain": "Is this review positive or negative?",
    # Most reviews are negated: say so, so that the model reads the sentence, not a word.
    "careful": "Read the whole sentence, including any negation. "
    "Is this review positive or negative?",
}

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])

with (args.dataset_dir / "train.csv").open(newline="", encoding="utf-8") as fh:
    train = list(csv.DictReader(fh))
# Chosen demo ids first; a view without one of them (its row is an item there) skips it.
by_id = {row["id"]: row for row in train}
shots = [by_id[i] for i in DEMO_IDS if i in by_id] or train[:SHOTS]
examples = "".join(
    f"Review: {r['review']}\n{ASK[QUESTION]}\nAnswer: {r['answer']}\n\n" for r in shots
)


def classify(row: dict[str, str]) -> list[str]:
    votes: Counter[str] = Counter()
    for _ in range(VOTES):
        reply = client.chat.completions.create(
            model=os.environ["SIA_MODEL"],
            messages=[
                {
                    "role": "user",
                    "content": f"{examples}Review: {row['review']}\n{ASK[QUESTION]}\nAnswer:",
                }
            ],
            max_tokens=3,
            temperature=TEMPERATURE,
            stop=["\n"],
            extra_headers={"X-SIA-Item": row["id"]},
        )
        words = (reply.choices[0].message.content or "").strip().lower().split()
        first = words[0] if words else ""
        # Only a clear label counts: an answer that is neither is wrong, not a default.
        if first.startswith(("pos", "neg")):
            votes["positive" if first.startswith("pos") else "negative"] += 1
    return [row["id"], votes.most_common(1)[0][0] if votes else "unknown"]


with (args.dataset_dir / "test.csv").open(newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
with ThreadPoolExecutor(32) as pool:
    predictions = list(pool.map(classify, rows))
with (args.working_dir / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "answer"])
    writer.writerows(predictions)
print(f"classified {len(predictions)} reviews")
