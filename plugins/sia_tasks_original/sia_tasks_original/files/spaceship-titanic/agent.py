#!/usr/bin/env python3
"""Reference harness for Spaceship Titanic: the task model, few-shot, one passenger a call."""

import argparse
import csv
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from openai import OpenAI

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])


def read(name: str) -> list[dict[str, str]]:
    with (args.dataset_dir / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def describe(row: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("Transported", "Name"))


train = read("train.csv")
EXAMPLES = "\n".join(
    f"{describe(r)} -> {r['Transported']}" for r in random.Random(0).sample(train, 8)
)


def predict(row: dict[str, str]) -> list[str]:
    prompt = (
        "Passengers of the Spaceship Titanic and whether each was transported to another "
        f"dimension:\n{EXAMPLES}\n{describe(row)} ->"
    )
    try:
        reply = client.chat.completions.create(
            model=os.environ["SIA_MODEL"],
            messages=[{"role": "user", "content": prompt + "\nAnswer True or False."}],
            temperature=0,
            max_tokens=5,
            extra_headers={"X-SIA-Item": row["PassengerId"]},
        )
        text = (reply.choices[0].message.content or "").strip().lower()
    except Exception:  # one failed call costs one passenger, not the run
        text = ""
    return [row["PassengerId"], "True" if text.startswith("true") else "False"]


with ThreadPoolExecutor(16) as pool:
    rows = list(pool.map(predict, read("test.csv")))
with (args.working_dir / "submission.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow(["PassengerId", "Transported"])
    writer.writerows(rows)
print(f"predicted {len(rows)} passengers")
