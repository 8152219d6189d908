"""The table of an ablation: the paper's four arms (initial, harness only, weights only,
both) read back from their ordinary run directories.

Per arm: the held-out test score of each seed's final incumbent, their mean and spread,
a 95% bootstrap interval over seeds x items, wall time and tokens; the interaction
both - harness - weights + initial with its interval (seeds and items resampled jointly
across the arms, so the interval is of the paired difference); and which lever made
each seed's final incumbent. An arm whose run stopped before its first change (no knobs
to tune, a model that cannot be trained) is a row that says why.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sia_core.execution.trajectories import item_rewards
from sia_core.loop.run_dir import RunDir
from sia_core.run_layout import gen_dir

ARMS = ("initial", "harness", "weights", "both")
BOOTSTRAP = 2000


def run_id(arm: str, seed: int) -> str:
    return f"{arm}-s{seed}"


@dataclass
class SeedResult:
    seed: int
    status: str
    test_score: float | None
    seconds: float
    tokens: int
    incumbent: int | None
    """The generation of the final incumbent."""
    lever: str
    """What made the final incumbent: reference, harness or weights."""
    stop_reason: str | None
    generations: int
    rewards: dict[str, float] = field(default_factory=dict)
    """The final incumbent's per-item held-out test rewards."""


def _test_rewards(run: Path, generation: int) -> dict[str, float]:
    gen = gen_dir(run, generation)
    rewards = item_rewards(gen / "test")
    return rewards or item_rewards(gen)  # no validation split: selection is the test run


def read_seed(runs: Path, arm: str, seed: int, seconds: float) -> SeedResult | None:
    rundir = RunDir.named(runs, run_id(arm, seed))
    if not rundir.exists():
        return None
    state = rundir.read()
    best = state.get("best") or {}
    gens = state.get("generations") or []
    number = best.get("generation")
    lever = "-"
    if number is not None:
        lever = "reference" if number == 1 else next(
            (str(g.get("lever")) for g in gens if g.get("number") == number), "-"
        )  # fmt: skip
    tokens = state.get("tokens") or {}
    return SeedResult(
        seed=seed,
        status=str(state.get("status")),
        test_score=best.get("test_score"),
        seconds=seconds,
        tokens=int(tokens.get("prompt", 0)) + int(tokens.get("completion", 0)),
        incumbent=number,
        lever=lever,
        stop_reason=state.get("stop_reason"),
        generations=len(gens),
        rewards=_test_rewards(rundir.path, number) if number is not None else {},
    )


def cannot_run(arm: str, seeds: list[SeedResult]) -> str | None:
    """Why an arm could not pull its lever at all: every seed stopped after generation
    1 (the backend said why), so its score is only the reference's."""
    if arm == "initial" or not seeds:
        return None
    if all(s.status == "stopped" and s.generations <= 1 for s in seeds):
        return seeds[0].stop_reason or "stopped after generation 1"
    return None


def _interval(values: list[float]) -> tuple[float, float] | None:
    if not values:
        return None
    values = sorted(values)
    return values[int(0.025 * (len(values) - 1))], values[int(0.975 * (len(values) - 1))]


def _replicates(arms: dict[str, list[SeedResult]], seed: int) -> dict[str, list[float]] | None:
    """Bootstrap means per arm: seeds resampled (the same draw for every arm), then the
    test items (the same draw for every arm and seed: they are the same items)."""
    seeds = sorted({s.seed for results in arms.values() for s in results})
    by = {arm: {s.seed: s for s in results} for arm, results in arms.items()}
    usable = [
        x for x in seeds
        if all(x in by[arm] and by[arm][x].rewards for arm in arms)
    ]  # fmt: skip
    if not usable:
        return None
    items = sorted(set.intersection(*(set(by[a][x].rewards) for a in arms for x in usable)))
    if not items:
        return None
    rng = random.Random(seed)
    out: dict[str, list[float]] = {arm: [] for arm in arms}
    for _ in range(BOOTSTRAP):
        draw_seeds = [usable[rng.randrange(len(usable))] for _ in usable]
        draw_items = [items[rng.randrange(len(items))] for _ in items]
        for arm in arms:
            per_seed = [
                statistics.fmean(by[arm][x].rewards[i] for i in draw_items) for x in draw_seeds
            ]
            out[arm].append(statistics.fmean(per_seed))
    return out


def table(arms: dict[str, list[SeedResult]], seed: int = 0) -> dict[str, Any]:
    """The ablation's table as data (ablation.json's "table" and "interaction")."""
    rows: dict[str, Any] = {}
    for arm in ARMS:
        results = arms.get(arm, [])
        scores = [s.test_score for s in results if s.test_score is not None]
        reason = cannot_run(arm, results)
        boot = _replicates({arm: results}, seed) if results else None
        rows[arm] = {
            "seeds": [s.seed for s in results],
            "scores": [s.test_score for s in results],
            "mean": statistics.fmean(scores) if scores and not reason else None,
            "min": min(scores) if scores and not reason else None,
            "max": max(scores) if scores and not reason else None,
            "interval": list(_interval(boot[arm]) or ()) if boot and not reason else None,
            "seconds": sum(s.seconds for s in results),
            "tokens": sum(s.tokens for s in results),
            "incumbent_levers": {str(s.seed): s.lever for s in results},
            "cannot_run": reason,
        }
    interaction: dict[str, Any] = {"value": None, "interval": None, "why": None}
    blocked = [arm for arm in ARMS if rows[arm]["cannot_run"]]
    if blocked:
        interaction["why"] = f"arm {blocked[0]} could not run: {rows[blocked[0]]['cannot_run']}"
    elif all(rows[arm]["mean"] is not None for arm in ARMS):
        means = {arm: rows[arm]["mean"] for arm in ARMS}
        interaction["value"] = (
            means["both"] - means["harness"] - means["weights"] + means["initial"]
        )
        boot = _replicates({arm: arms[arm] for arm in ARMS}, seed)
        if boot is not None:
            values = [
                b - h - w + i
                for b, h, w, i in zip(
                    boot["both"], boot["harness"], boot["weights"], boot["initial"], strict=True
                )
            ]
            interaction["interval"] = list(_interval(values) or ())
    return {"table": rows, "interaction": interaction}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def lines(data: dict[str, Any], metric: str) -> list[str]:
    """The paper's table as markdown lines."""
    out = [
        f"| arm | held-out {metric}: mean (min–max) | 95% interval (seeds × items) | "
        "per seed | final incumbent made by | wall | tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        row = data["table"][arm]
        if row["cannot_run"]:
            out.append(f"| {arm} | cannot run: {row['cannot_run']} | - | - | - | "
                       f"{row['seconds']:.0f} s | {row['tokens']} |")  # fmt: skip
            continue
        spread = f"{_pct(row['mean'])} ({_pct(row['min'])}–{_pct(row['max'])})"
        interval = row["interval"]
        ci = f"[{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "-"
        per_seed = ", ".join("-" if s is None else f"{s:.4f}" for s in row["scores"])
        levers = ", ".join(f"s{k}: {v}" for k, v in row["incumbent_levers"].items())
        out.append(f"| {arm} | {spread} | {ci} | {per_seed} | {levers} | "
                   f"{row['seconds']:.0f} s | {row['tokens']} |")  # fmt: skip
    inter = data["interaction"]
    if inter["value"] is None:
        out.append(f"\ninteraction (both − harness − weights + initial): - ({inter['why']})")
    else:
        ci = inter["interval"]
        ci_text = f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else ""
        out.append(
            f"\ninteraction (both − harness − weights + initial): {inter['value']:+.4f}{ci_text}"
        )
    return out
