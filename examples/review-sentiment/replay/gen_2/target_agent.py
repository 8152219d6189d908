#!/usr/bin/env python3
"""Generation 2: naive Bayes over words learned from train.csv."""

import argparse
import csv
import math
from collections import Counter
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()

counts = {"positive": Counter(), "negative": Counter()}
with (args.dataset_dir / "train.csv").open(newline="", encoding="utf-8") as fh:
    for row in csv.DictReader(fh):
        counts[row["label"]].update(row["text"].split())


totals = {label: sum(c.values()) for label, c in counts.items()}


def log_odds(word: str) -> float:
    # Add-one smoothing; per-class normalisation keeps frequent neutral words near zero.
    pos = (counts["positive"][word] + 1) / (totals["positive"] + 1)
    neg = (counts["negative"][word] + 1) / (totals["negative"] + 1)
    return math.log(pos / neg)


def predict(text: str) -> str:
    return "positive" if sum(map(log_odds, text.split())) >= 0 else "negative"


with (args.dataset_dir / "test.csv").open(newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
with (args.working_dir / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "label"])
    writer.writerows([row["id"], predict(row["text"])] for row in rows)
