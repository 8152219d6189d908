"""The built-in reward-shape classifier: statistics of per-item rewards, a label, and a
ranking of the installed RL algorithms for that label.

Labels (an algorithm lists the ones it suits in `AlgorithmInfo.reward_shapes`):
  binary        outcome rewards in {0, 1} with a fair share of successes
  sparse        mostly failing: few or no successes, most groups give no signal
  dense         many distinct reward values, roughly symmetric
  heavy-tailed  many distinct values, right-skewed: a few high rewards, most low
  saturated     everything already succeeds: nothing left to learn from rewards
  empty         no rewards at all
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from sia_core.weights.shapes import AlgorithmInfo, ShapeReport

SPARSE_SUCCESS_RATE = 0.2
SKEW_HEAVY = 1.0

# Best first, as measured by benchmarks/weights_algorithms.py on the embedded model
# (the table in docs/configuration.md, "Which algorithm for which rewards"). Installed
# algorithms named here lead, in this order; the others follow by the shapes they
# declare. A shape without a measurement ranks by declarations alone.
MEASURED: dict[str, tuple[str, ...]] = {
    "sparse": ("entropic", "bon", "dpo", "grpo", "ppo", "reinforce"),
}


def reward_stats(rewards: Sequence[float]) -> dict[str, float]:
    n = len(rewards)
    if n == 0:
        return {"n": 0}
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards)
    low, high = min(rewards), max(rewards)
    skew = 0.0
    if std > 0:
        skew = sum((r - mean) ** 3 for r in rewards) / (n * std**3)
    successes = sum(1 for r in rewards if r >= 1.0)
    return {
        "n": n,
        "mean": round(mean, 4),
        "std": round(std, 4),
        "min": low,
        "max": high,
        "median": statistics.median(rewards),
        "distinct": len(set(rewards)),
        "success_rate": round(successes / n, 4),
        "zero_rate": round(sum(1 for r in rewards if r <= 0.0) / n, 4),
        "skewness": round(skew, 4),
    }


def label_of(stats: dict[str, float]) -> tuple[str, str]:
    n = stats["n"]
    if n == 0:
        return "empty", "no per-item rewards were produced"
    if stats["distinct"] == 1:
        value = stats["max"]
        if value >= 1.0:
            return "saturated", "every item already gets the full reward"
        if value <= 0.0:
            return "sparse", "every item failed: no success to learn from yet"
        return "dense", f"every item got the same reward {value}: no contrast between items"
    if stats["distinct"] == 2 and stats["min"] == 0 and stats["max"] == 1:
        rate = stats["mean"]
        if rate < SPARSE_SUCCESS_RATE:
            return "sparse", (
                f"binary outcome, mostly failing: {rate:.0%} success; most groups of "
                "samples will hold no success at all"
            )
        return "binary", f"binary outcome with {rate:.0%} success: group baselines work"
    if stats["skewness"] > SKEW_HEAVY and stats["median"] <= stats["mean"]:
        return "heavy-tailed", (
            f"continuous, right-skewed (skewness {stats['skewness']:.2f}): rare high "
            "rewards carry most of the signal"
        )
    if stats["success_rate"] < SPARSE_SUCCESS_RATE and stats["zero_rate"] > 0.5:
        return "sparse", f"continuous but mostly zero ({stats['zero_rate']:.0%} at zero)"
    return "dense", f"continuous rewards with {int(stats['distinct'])} distinct values"


def classify(rewards: Sequence[float], algorithms: Sequence[AlgorithmInfo]) -> ShapeReport:
    clean = [float(r) for r in rewards if not math.isnan(float(r))]
    stats = reward_stats(clean)
    label, explanation = label_of(stats)

    names = {info.name for info in algorithms}
    measured = tuple(n for n in MEASURED.get(label, ()) if n in names)

    def key(info: AlgorithmInfo) -> tuple[int, int, int, bool, str]:
        suits = label in info.reward_shapes
        # An algorithm lists its shapes best first; the rest tie, cheaper ones first.
        position = info.reward_shapes.index(label) if suits else 0
        rank = measured.index(info.name) if info.name in measured else len(measured)
        return (rank, 0 if suits else 1, position, info.needs_value_model, info.name)

    ranked = sorted(algorithms, key=key)
    reasons = {
        info.name: (
            f"measured best for {label} rewards"
            if measured and info.name == measured[0]
            else f"suits {label} rewards"
            if label in info.reward_shapes
            else f"suits {', '.join(info.reward_shapes) or 'no declared shape'}"
        )
        for info in ranked
    }
    return ShapeReport(
        label=label,
        explanation=explanation,
        stats=stats,
        ranking=[info.name for info in ranked],
        reasons=reasons,
    )
