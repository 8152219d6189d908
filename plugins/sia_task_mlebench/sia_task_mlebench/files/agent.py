#!/usr/bin/env python3
"""Reference harness: a constant baseline from train.csv (the majority label, the mean,
or the class frequencies). It calls no model; it is the floor a harness should beat."""

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
grading = json.loads((args.dataset_dir / "grading.json").read_text("utf-8"))
metric, id_column, targets = grading["metric"], grading["id_column"], grading["targets"]


def read(name: str) -> list[dict[str, str]]:
    with (args.dataset_dir / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def as_number(value: str) -> float:
    word = value.strip().lower()
    return 1.0 if word == "true" else 0.0 if word == "false" else float(value or 0)


train = read("train.csv")
if grading.get("label_column"):
    counts = Counter(row[grading["label_column"]] for row in train)
    constant = [str(counts[t] / len(train)) for t in targets]
elif metric == "accuracy":
    constant = [Counter(row[t] for row in train).most_common(1)[0][0] for t in targets]
else:
    constant = [str(sum(as_number(row[t]) for row in train) / len(train)) for t in targets]
with (args.working_dir / "submission.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow([id_column, *targets])
    writer.writerows([row[id_column], *constant] for row in read("test.csv"))
print(f"constant baseline {dict(zip(targets, constant, strict=True))}")
