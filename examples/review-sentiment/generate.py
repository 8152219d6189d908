#!/usr/bin/env python3
"""Write the review-sentiment data: python generate.py [--seed S] [--train N] [--test N]."""

import argparse
import csv
import random
from pathlib import Path

POSITIVE = ["great", "excellent", "love", "perfect", "sturdy", "fast", "comfortable", "bright"]
NEGATIVE = ["broken", "awful", "hate", "flimsy", "slow", "refund", "noisy", "useless"]
NEUTRAL = [
    "the",
    "it",
    "this",
    "arrived",
    "box",
    "color",
    "size",
    "price",
    "kettle",
    "lamp",
    "chair",
    "phone",
    "case",
    "after",
    "week",
    "was",
    "really",
    "quite",
]


def review(rng: random.Random, label: str) -> str:
    cue = POSITIVE if label == "positive" else NEGATIVE
    words = rng.sample(NEUTRAL, 5) + rng.sample(cue, 2)
    rng.shuffle(words)
    return " ".join(words)


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # Skewed classes: a majority-class baseline scores well above zero but far from 1.
    labels = ["positive"] * 6 + ["negative"] * 4
    rows = [(f"r{i:04d}", rng.choice(labels)) for i in range(args.train + args.test)]
    train, test = rows[: args.train], rows[args.train :]
    public, private = args.root / "data" / "public", args.root / "data" / "private"
    write(public / "train.csv", ["id", "text", "label"], [[i, review(rng, y), y] for i, y in train])
    test_text = {i: review(rng, y) for i, y in test}
    write(public / "test.csv", ["id", "text"], [[i, test_text[i]] for i, _ in test])
    write(public / "sample_submission.csv", ["id", "label"], [[i, "positive"] for i, _ in test])
    write(private / "answers.csv", ["id", "label"], [[i, y] for i, y in test])


if __name__ == "__main__":
    main()
