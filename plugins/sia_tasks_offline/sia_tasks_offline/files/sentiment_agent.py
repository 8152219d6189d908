#!/usr/bin/env python3
"""Reference harness for sentiment: a zero-shot question per review, one word back."""

import argparse
import csv
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from openai import OpenAI

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])


def classify(row: dict[str, str]) -> list[str]:
    reply = client.chat.completions.create(
        model=os.environ["SIA_MODEL"],
        messages=[
            {
                "role": "user",
                "content": f"Review: {row['review']}\n"
                "Is this review positive or negative?\nAnswer:",
            }
        ],
        max_tokens=3,
        temperature=0,
        stop=["\n"],
        extra_headers={"X-SIA-Item": row["id"]},
    )
    words = (reply.choices[0].message.content or "").strip().lower().split()
    first = words[0] if words else ""
    # Only a clear label counts: an answer that is neither is wrong, not a default.
    label = "positive" if first.startswith("pos") else "negative" if first.startswith("neg") else ""
    return [row["id"], label or "unknown"]


with (args.dataset_dir / "test.csv").open(newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
with ThreadPoolExecutor(32) as pool:
    predictions = list(pool.map(classify, rows))
with (args.working_dir / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "answer"])
    writer.writerows(predictions)
print(f"classified {len(predictions)} reviews")
