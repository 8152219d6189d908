"""When a candidate replaces the incumbent.

`raw` keeps a candidate whose selection score is better at all, as the original SIA
does. `paired` compares the two on the same selection items and keeps the candidate only
when it is better by more than noise: McNemar's exact test when every reward is 0 or 1
(one-sided, on the items where exactly one of the two succeeded), otherwise a paired
bootstrap of the mean difference (one-sided). Both report the mean per-item difference
with a 95% paired-bootstrap interval, so a run's summary shows how big each step was.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

RULES = ("raw", "paired")
LEVEL = 0.05
"""One-sided significance level of the paired rule."""
BOOTSTRAP = 2000


@dataclass
class KeepVerdict:
    rule: str
    kept: bool
    reason: str
    difference: float | None = None
    """Mean per-item reward difference, candidate minus incumbent: positive is better
    (item rewards are higher-is-better also when the task's metric is minimised)."""
    interval: tuple[float, float] | None = None
    """95% paired-bootstrap interval of `difference`."""
    p_value: float | None = None
    """One-sided: the chance of a difference at least this good if the two were equal."""
    items: int = 0
    """Items both were scored on."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["interval"] = list(self.interval) if self.interval else None
        return data

    def summary(self) -> str:
        if self.difference is None:
            return self.reason
        text = f"{self.difference:+.4f}"
        if self.interval:
            text += f" [{self.interval[0]:+.4f}, {self.interval[1]:+.4f}]"
        if self.p_value is not None:
            text += f" p={self.p_value:.3f}"
        return text


def _bootstrap(diffs: list[float], seed: int) -> list[float]:
    """Sorted means of BOOTSTRAP resamples (with replacement) of `diffs`."""
    rng = random.Random(seed)
    n = len(diffs)
    return sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(BOOTSTRAP))


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, int(math.floor(q * (len(sorted_values) - 1)))))
    return sorted_values[index]


def mcnemar_one_sided(better: int, worse: int) -> float:
    """P(at least `better` of the discordant items favour the candidate | no difference)."""
    n = better + worse
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(better, n + 1)) / 2**n


def decide(
    rule: str,
    candidate: dict[str, float],
    incumbent: dict[str, float] | None,
    candidate_score: float | None,
    incumbent_score: float | None,
    direction: str,
    seed: int = 0,
) -> KeepVerdict:
    """Whether a candidate scored `candidate_score` (per-item rewards `candidate`) replaces
    the incumbent; no incumbent means any scored candidate is kept."""
    if candidate_score is None:
        return KeepVerdict(rule, False, "not scored")
    if incumbent_score is None:
        return KeepVerdict(rule, True, "no incumbent yet")
    sign = 1.0 if direction == "max" else -1.0
    incumbent = incumbent or {}
    common = sorted(set(candidate) & set(incumbent))
    verdict = KeepVerdict(rule, False, "", items=len(common))
    # Item rewards are higher-is-better whatever the metric's direction (the evaluator
    # contract the weights lever trains on: scrna-denoise's are minus each cell's MSE).
    diffs = [candidate[i] - incumbent[i] for i in common]
    # One set of resamples serves the interval and the bootstrap p-value.
    means = _bootstrap(diffs, seed) if diffs else []
    if diffs:
        verdict.difference = sum(diffs) / len(diffs)
        verdict.interval = (_quantile(means, 0.025), _quantile(means, 0.975))
    raw_better = sign * (candidate_score - incumbent_score) > 0
    if rule == "raw" or not common:
        verdict.kept = raw_better
        verdict.reason = (
            "raw: selection score "
            + ("better" if raw_better else "not better")
            + ("" if common or rule == "raw" else " (no common items for a paired test)")
        )
        return verdict
    values = {candidate[i] for i in common} | {incumbent[i] for i in common}
    if values <= {0.0, 1.0}:
        better, worse = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        verdict.p_value = mcnemar_one_sided(better, worse)
        test = f"McNemar exact, {better} items better, {worse} worse"
    else:
        verdict.p_value = sum(1 for m in means if m <= 0) / len(means)
        test = f"paired bootstrap over {len(common)} items"
    verdict.kept = raw_better and verdict.p_value < LEVEL
    verdict.reason = (
        f"paired ({test}): p={verdict.p_value:.3f} "
        + ("<" if verdict.p_value < LEVEL else ">=")
        + f" {LEVEL}"
    )
    return verdict
