"""When a candidate replaces the incumbent.

`raw` keeps a candidate whose selection score is better at all, as the original SIA
does. `paired` compares the two on the same selection items and keeps the candidate only
when it is better by more than noise: McNemar's exact test when every reward is 0 or 1
(one-sided, on the items where exactly one of the two succeeded), otherwise a paired
bootstrap of the mean difference (one-sided). Both report the mean per-item difference
with a 95% paired-bootstrap interval, so a run's summary shows how big each step was.

A second look: where the task has labelled training rows to spare, a close call (better,
p between SEQUENTIAL_LEVEL and FUTILITY) is not settled on the selection items alone.
Both harnesses run on more rows and the test is repeated over every item scored so far.
Two looks at the 5% level would keep noise more often than 5% of the time, so both looks
then use SEQUENTIAL_LEVEL (Pocock's boundary for two looks, lowered until the exact
chance of keeping a candidate that is no better, computed for McNemar's test over every
discordant count up to 80 and 160, stays below 5%: tests/test_second_look.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

RULES = ("raw", "paired")
LEVEL = 0.05
"""One-sided significance level of the paired rule."""
SEQUENTIAL_LEVEL = 0.03
"""The level of each look when a second look is possible."""
FUTILITY = 0.25
"""A first look with p above this is not worth a second: not kept."""
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
    level: float = LEVEL
    """The level this verdict was tested at (SEQUENTIAL_LEVEL when it has two looks)."""
    second_look: bool = False
    """The first look was a close call: run both on more rows (`pooled` decides)."""
    evidence: dict[str, Any] | None = None
    """The second look: the rows it added, how many favoured each, the pooled test."""

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
    two_looks: bool = False,
) -> KeepVerdict:
    """Whether a candidate scored `candidate_score` (per-item rewards `candidate`) replaces
    the incumbent; no incumbent means any scored candidate is kept. `two_looks`: more rows
    can be scored if this look is a close call (the paired rule then tests at
    SEQUENTIAL_LEVEL and sets `second_look` instead of deciding)."""
    if candidate_score is None:
        return KeepVerdict(rule, False, "not scored")
    if incumbent_score is None:
        return KeepVerdict(rule, True, "no incumbent yet")
    sign = 1.0 if direction == "max" else -1.0
    incumbent = incumbent or {}
    common = sorted(set(candidate) & set(incumbent))
    verdict = KeepVerdict(rule, False, "", items=len(common))
    diffs, means = _measure(verdict, candidate, incumbent, common, seed)
    raw_better = sign * (candidate_score - incumbent_score) > 0
    if rule == "raw" or not common:
        verdict.kept = raw_better
        verdict.reason = (
            "raw: selection score "
            + ("better" if raw_better else "not better")
            + ("" if common or rule == "raw" else " (no common items for a paired test)")
        )
        return verdict
    level = SEQUENTIAL_LEVEL if two_looks else LEVEL
    verdict.level = level
    verdict.p_value, test = _paired_test(candidate, incumbent, common, diffs, means)
    verdict.kept = raw_better and verdict.p_value < level
    verdict.second_look = two_looks and raw_better and level <= verdict.p_value <= FUTILITY
    verdict.reason = (
        f"paired ({test}): p={verdict.p_value:.3f} "
        + ("<" if verdict.p_value < level else ">=")
        + f" {level}"
        + (", a close call: a second look on more rows" if verdict.second_look else "")
    )
    return verdict


def _measure(
    verdict: KeepVerdict,
    candidate: dict[str, float],
    incumbent: dict[str, float],
    common: list[str],
    seed: int,
) -> tuple[list[float], list[float]]:
    """Set `verdict`'s mean difference and interval over `common`; return the per-item
    differences and the sorted bootstrap means (one set of resamples serves the interval
    and the bootstrap p-value)."""
    # Item rewards are higher-is-better whatever the metric's direction (the evaluator
    # contract the weights lever trains on: scrna-denoise's are minus each cell's MSE).
    diffs = [candidate[i] - incumbent[i] for i in common]
    means = _bootstrap(diffs, seed) if diffs else []
    if diffs:
        verdict.difference = sum(diffs) / len(diffs)
        verdict.interval = (_quantile(means, 0.025), _quantile(means, 0.975))
    return diffs, means


def _paired_test(
    candidate: dict[str, float],
    incumbent: dict[str, float],
    common: list[str],
    diffs: list[float],
    means: list[float],
) -> tuple[float, str]:
    """One-sided p-value of the paired test over `common`, and how it was made."""
    values = {candidate[i] for i in common} | {incumbent[i] for i in common}
    if values <= {0.0, 1.0}:
        better, worse = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        test = f"McNemar exact, {better} items better, {worse} worse"
        return mcnemar_one_sided(better, worse), test
    p_value = sum(1 for m in means if m <= 0) / len(means)
    return p_value, f"paired bootstrap over {len(common)} items"


def pooled(
    first: KeepVerdict,
    selection: tuple[dict[str, float], dict[str, float]],
    more: tuple[dict[str, float], dict[str, float]],
    seed: int = 0,
) -> KeepVerdict:
    """The second look of a close call `first`: the paired test at SEQUENTIAL_LEVEL over
    the selection items and the rows `more` added, each a (candidate, incumbent) pair of
    per-item rewards. Kept only when the pooled difference is better and significant."""
    cand: dict[str, float] = {}
    inc: dict[str, float] = {}
    for tag, (candidate, incumbent) in (("selection", selection), ("more", more)):
        for key in sorted(set(candidate) & set(incumbent)):
            cand[f"{tag}:{key}"], inc[f"{tag}:{key}"] = candidate[key], incumbent[key]
    keys = list(cand)
    verdict = replace(first, second_look=False, items=len(keys))
    diffs, means = _measure(verdict, cand, inc, keys, seed)
    p_value, test = _paired_test(cand, inc, keys, diffs, means)
    verdict.p_value = p_value
    more_diffs = [d for k, d in zip(keys, diffs, strict=True) if k.startswith("more:")]
    verdict.evidence = {
        "rows": len(more_diffs),
        "better": sum(d > 0 for d in more_diffs),
        "worse": sum(d < 0 for d in more_diffs),
        "difference": sum(more_diffs) / len(more_diffs) if more_diffs else None,
        "first_p_value": first.p_value,
    }
    verdict.kept = (verdict.difference or 0.0) > 0 and p_value < SEQUENTIAL_LEVEL
    verdict.reason = (
        f"paired, two looks: selection p={first.p_value:.3f}, then {len(more_diffs)} more "
        f"training rows ({verdict.evidence['better']} better, {verdict.evidence['worse']} "
        f"worse); pooled ({test}): p={p_value:.3f} "
        + ("<" if p_value < SEQUENTIAL_LEVEL else ">=")
        + f" {SEQUENTIAL_LEVEL}"
    )
    return verdict


def out_of_reach(rule: str, incumbent: dict[str, float], two_looks: bool) -> str | None:
    """Why no candidate could replace an incumbent with these per-item rewards, or None.
    Only where every reward is 0 or 1: the best any candidate can do is every item right,
    and if even that is neither kept nor a close call, every later generation is spent
    for nothing (the incumbent fails too few items for a gain to clear the test)."""
    if not incumbent or not set(incumbent.values()) <= {0.0, 1.0}:
        return None
    failed = sum(1 for v in incumbent.values() if v == 0.0)
    if failed == 0:
        return None  # saturated: the backend says so, with what its evaluator noted
    perfect = {item: 1.0 for item in incumbent}
    score = 1.0 - failed / len(incumbent)
    verdict = decide(rule, perfect, incumbent, 1.0, score, "max", two_looks=two_looks)
    if verdict.kept or verdict.second_look:
        return None
    bar = f"{FUTILITY} (no second look above it)" if two_looks else str(verdict.level)
    return (
        f"the {rule} keep rule cannot keep any child: the incumbent fails {failed} of "
        f"{len(incumbent)} selection items, and a child that got all of them right would be "
        f"{failed} better, 0 worse (p={verdict.p_value:.3f}, above {bar}); "
        "--keep-rule raw keeps any gain"
    )


def no_second_look(first: KeepVerdict, why: str) -> KeepVerdict:
    """A close call whose second look could not be made: not kept, and why."""
    return replace(first, second_look=False, kept=False, reason=f"{first.reason}; not made: {why}")
