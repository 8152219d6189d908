#!/usr/bin/env python3
"""Reference harness for arithmetic: a few-shot prompt per problem, a number back.

The constants marked `# sia-knob:` are what sia's offline harness lever tunes (see
docs/tasks.md, "Harness knobs"); their values here are the reference setting.
"""

import argparse
import csv
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from openai import OpenAI

SHOTS = 4  # sia-knob: int 0..16
DEMO_IDS = []  # sia-knob: demos train.csv:id 0..8
FORMAT = "qa"  # sia-knob: choice qa|equation|steps
VOTES = 1  # sia-knob: int 1..7
TEMPERATURE = 0.0  # sia-knob: float 0.0..1.0

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


def worked(problem: str) -> str:
    """`47 + 25 = 47 + 20 + 5 = 67 + 5 = 72`: tens first, then ones."""
    left, op, right = problem.split()
    a, b = int(left), int(right)
    tens, ones = b - b % 10, b % 10
    middle = a + tens if op == "+" else a - tens
    end = middle + ones if op == "+" else middle - ones
    return f"{problem} = {a} {op} {tens} {op} {ones} = {middle} {op} {ones} = {end}"


def prompt(problem: str) -> str:
    if FORMAT == "equation":
        return "".join(f"{r['problem']} = {r['answer']}\n" for r in shots) + f"{problem} ="
    if FORMAT == "steps":
        return "".join(worked(r["problem"]) + "\n" for r in shots) + f"{problem} ="
    return "".join(f"Q: {r['problem']} = ?\nA: {r['answer']}\n\n" for r in shots) + (
        f"Q: {problem} = ?\nA:"
    )


def solve(row: dict[str, str]) -> list[str]:
    votes: Counter[str] = Counter()
    for _ in range(VOTES):
        reply = client.chat.completions.create(
            model=os.environ["SIA_MODEL"],
            messages=[{"role": "user", "content": prompt(row["problem"])}],
            max_tokens=24 if FORMAT == "steps" else 4,
            temperature=TEMPERATURE,
            stop=["\n"],
            extra_headers={"X-SIA-Item": row["id"]},
        )
        # A worked answer ends on its result; a direct one starts with it.
        numbers = re.findall(r"-?\d+", reply.choices[0].message.content or "")
        if numbers:
            votes[numbers[-1] if FORMAT == "steps" else numbers[0]] += 1
    return [row["id"], votes.most_common(1)[0][0] if votes else ""]


with (args.dataset_dir / "test.csv").open(newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
with ThreadPoolExecutor(32) as pool:
    predictions = list(pool.map(solve, rows))
with (args.working_dir / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "answer"])
    writer.writerows(predictions)
print(f"answered {len(predictions)} problems")
