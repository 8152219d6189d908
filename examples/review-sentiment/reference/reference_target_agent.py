#!/usr/bin/env python3
"""Reference agent: predict the most frequent training label for every review.

No model is called. The constants marked `# sia-knob:` are what sia's offline harness
lever may tune (docs/tasks.md, "Harness knobs"): with METHOD = "words" each word of a
review votes for the label it was seen with in the demo rows (every training row when
DEMO_IDS is empty), if it was seen at least MIN_COUNT times and at least PURITY of them
with that label; the majority label breaks ties.
"""

import argparse
import csv
from collections import Counter
from pathlib import Path

METHOD = "majority"  # sia-knob: choice majority|words
MIN_COUNT = 1  # sia-knob: int 1..5
PURITY = 0.5  # sia-knob: float 0.5..1.0
DEMO_IDS = []  # sia-knob: demos train.csv:id 0..32

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()

with (args.dataset_dir / "train.csv").open(newline="", encoding="utf-8") as fh:
    train = list(csv.DictReader(fh))
majority = Counter(row["label"] for row in train).most_common(1)[0][0]
chosen = {str(i) for i in DEMO_IDS}
demos = [row for row in train if row["id"] in chosen] or train
seen: dict[str, Counter[str]] = {}
for row in demos:
    for word in set(row["text"].lower().split()):
        seen.setdefault(word, Counter())[row["label"]] += 1


def predict(text: str) -> str:
    if METHOD == "majority":
        return majority
    votes: Counter[str] = Counter()
    for word in set(text.lower().split()):
        counts = seen.get(word)
        if counts and sum(counts.values()) >= MIN_COUNT:
            label, count = counts.most_common(1)[0]
            if count >= PURITY * sum(counts.values()):
                votes[label] += 1
    ranked = votes.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return majority
    return ranked[0][0]


with (args.dataset_dir / "test.csv").open(newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
with (args.working_dir / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "label"])
    writer.writerows([row["id"], predict(row["text"])] for row in rows)
print(f"predicted {len(rows)} reviews ({METHOD})")
