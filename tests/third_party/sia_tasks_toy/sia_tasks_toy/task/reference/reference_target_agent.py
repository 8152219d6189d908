import argparse
import csv
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
with (args.dataset_dir / "test.csv").open() as fh:
    rows = list(csv.DictReader(fh))
with (args.working_dir / "predictions.csv").open("w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "answer"])
    # Wrong on purpose for the last row, so the score is not trivially 1.
    writer.writerows([r["id"], str(2 * int(r["x"]) + (r["id"] == "d"))] for r in rows)
