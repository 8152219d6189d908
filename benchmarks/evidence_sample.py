"""What a Feedback-Agent gets to see: sia's evidence sample against the original SIA's
(the first three trajectories by file name, each cut to 1,000 characters).

    python benchmarks/evidence_sample.py [RUN_DIR/gen_N] [--budget 6000]

With a generation directory it reads its agent_execution.json; without one it builds a
GPQA-like generation (198 items over three domains, ~60% wrong, ids in name order, long
prompts). Printed: failing items shown, statuses and groups covered, and characters
shown, for both, and their ratios.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from sia_core.agent_session import evidence


def synthetic() -> dict[str, Any]:
    rng = random.Random(0)
    trajectories = []
    for n in range(198):
        domain = ["Physics", "Chemistry", "Biology"][n % 3]
        status = rng.choices(["correct", "incorrect", "invalid"], [0.4, 0.5, 0.1])[0]
        prompt = f"Question {n} ({domain}): " + "lorem ipsum " * rng.randint(100, 400)
        trajectories.append(
            {
                "item_id": f"q{n:03d}",
                "status": status,
                "group": domain,
                "reward": float(status == "correct"),
                "calls": [
                    {
                        "request": {"messages": [{"role": "user", "content": prompt}]},
                        "response": [{"content": "Answer: " + rng.choice("ABCD")}],
                    }
                ],
            }
        )
    return {"trajectories": trajectories}


def original(execution: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(execution["trajectories"], key=lambda t: str(t["item_id"]))[:3]


def describe(shown: list[dict[str, Any]], chars: int) -> dict[str, float]:
    return {
        "items": len(shown),
        "failing": sum(evidence._failed(t) for t in shown),
        "statuses": len({t.get("status") for t in shown}),
        "groups": len({t.get("group") for t in shown}),
        "characters": chars,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("gen_dir", nargs="?", type=Path)
    parser.add_argument("--budget", type=int, default=6000)
    args = parser.parse_args()
    if args.gen_dir:
        execution = json.loads((args.gen_dir / "agent_execution.json").read_text())
    else:
        execution = synthetic()
    first = original(execution)
    theirs = describe(first, sum(min(len(evidence.render_item(t, 10**9)), 1000) for t in first))
    text, ids = evidence.sample(execution, args.budget)
    by_id = {str(t["item_id"]): t for t in execution["trajectories"]}
    ours = describe([by_id[i] for i in ids], len(text))
    total = len(execution["trajectories"])
    failing = sum(evidence._failed(t) for t in execution["trajectories"])
    print(f"generation: {total} items, {failing} failing")
    print(f"{'':12} {'original':>9} {'sia':>9} {'ratio':>7}")
    for key in ("items", "failing", "statuses", "groups", "characters"):
        ratio = ours[key] / theirs[key] if theirs[key] else float("inf")
        print(f"{key:12} {theirs[key]:>9} {ours[key]:>9} {ratio:>7.2f}")


if __name__ == "__main__":
    main()
