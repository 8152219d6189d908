#!/usr/bin/env python3
"""Generation 3: a deliberately bad idea, to show that selection keeps generation 2."""

import argparse
import csv
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()

time.sleep(2)  # slow enough that a test can kill the run during this generation
with (args.dataset_dir / "test.csv").open(newline="", encoding="utf-8") as fh:
    ids = [row["id"] for row in csv.DictReader(fh)]
with (args.working_dir / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "label"])
    writer.writerows([i, "negative"] for i in ids)
