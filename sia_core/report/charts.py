"""The report's charts as inline SVG from matplotlib: text in the page, no JavaScript to
inline or to fail, the same picture offline, in a browser and on paper."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from sia_core.report.run_view import RunView

PARTS = ("selection", "test", "rollouts", "trials", "candidates")
COLORS = {
    "selection": "#1f77b4",
    "test": "#ff7f0e",
    "rollouts": "#2ca02c",
    "trials": "#9467bd",
    "candidates": "#8c564b",
    "failed": "#d62728",
    "incumbent": "#111111",
}


matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text in the page
        "svg.hashsalt": "sia-report",  # the same run draws the same SVG
        # Labels come from the run (item groups, metric names): a "$" must stay a
        # character, not start a formula that fails to parse.
        "text.parse_math": False,
    }
)


def _figure(width: float = 7.0, height: float = 3.0) -> Any:
    # A Figure without pyplot: no global state, so `sia web` can draw in many threads.
    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    # No Dublin Core block: it names a date (the page would differ run to run) and URLs.
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    # Inline SVG needs neither the XML prolog nor the DOCTYPE.
    return text[text.index("<svg") :]


def _int_ticks(ax: Any, values: list[int]) -> None:
    ax.set_xticks(values)
    ax.set_xlim(min(values) - 0.5, max(values) + 0.5)


def scores(view: RunView) -> str | None:
    """Selection and test score per generation; the incumbent ringed, failures crossed."""
    gens = view.generations
    if not gens:
        return None
    metric = view.state.get("task", {}).get("metric", "score")
    fig = _figure()
    ax = fig.add_subplot()
    numbers = [g.number for g in gens]
    sel = [(g.number, g.record.score) for g in gens if g.record.score is not None]
    test = [(g.number, g.record.test_score) for g in gens if g.record.test_score is not None]
    if sel:
        ax.plot(*zip(*sel, strict=True), "o-", color=COLORS["selection"], label="selection")
    if test:
        # Hollow and on top: where test and selection coincide, both stay visible.
        ax.plot(
            *zip(*test, strict=True), "s", color=COLORS["test"], label="test",
            ms=10, mfc="none", mew=1.8, zorder=4,
        )  # fmt: skip
    kept = [(g.number, g.record.score) for g in gens if g.record.incumbent]
    if kept:
        ax.plot(
            *zip(*kept, strict=True),
            "o",
            ms=14,
            mfc="none",
            mec=COLORS["incumbent"],
            mew=1.5,
            label="became incumbent",
        )
    failed = [g.number for g in gens if g.record.status != "ok"]
    if failed:
        low = min([s for _, s in sel + test] or [0.0])
        ax.plot(failed, [low] * len(failed), "x", color=COLORS["failed"], ms=9, label="failed")
    _int_ticks(ax, numbers)
    ax.set_xlabel("generation")
    ax.set_ylabel(f"{metric} ({view.state.get('task', {}).get('direction', 'max')})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _svg(fig)


def groups(view: RunView) -> str | None:
    """Mean selection reward per item group, one line per group."""
    names = sorted({name for g in view.generations for name in g.groups})
    if len(names) < 2:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for name in names[:12]:
        points = [(g.number, g.groups[name][0]) for g in view.generations if name in g.groups]
        ax.plot(*zip(*points, strict=True), "o-", label=name)
    _int_ticks(ax, [g.number for g in view.generations])
    ax.set_xlabel("generation")
    ax.set_ylabel("mean reward (selection)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, ncols=2)
    return _svg(fig)


def usage(view: RunView) -> str | None:
    """Task-model tokens per generation, stacked by what they were spent on."""
    gens = view.generations
    if not gens:
        return None
    fig = _figure(height=2.6)
    ax = fig.add_subplot()
    bottom = [0] * len(gens)
    numbers = [g.number for g in gens]
    for part in PARTS:
        values = [
            int(
                (g.record.usage.get(part) or {}).get("prompt_tokens", 0)
                + (g.record.usage.get(part) or {}).get("completion_tokens", 0)
            )
            for g in gens
        ]
        if any(values):
            ax.bar(numbers, values, bottom=bottom, color=COLORS[part], label=part, width=0.6)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _int_ticks(ax, numbers)
    ax.set_xlabel("generation")
    ax.set_ylabel("task-model tokens")
    ax.grid(alpha=0.3, axis="y")
    if any(bottom):
        ax.legend(loc="best", fontsize=8)
    return _svg(fig)


def rewards(values: list[float], title: str) -> str | None:
    """A histogram of per-item rewards."""
    if not values:
        return None
    fig = _figure(width=4.2, height=2.3)
    ax = fig.add_subplot()
    distinct = sorted(set(values))
    if len(distinct) <= 10:
        counts = [values.count(v) for v in distinct]
        labels = [f"{v:g}" for v in distinct]
        ax.bar(range(len(distinct)), counts, color=COLORS["selection"], width=0.6)
        ax.set_xticks(range(len(distinct)), labels)
    else:
        ax.hist(values, bins=min(30, max(5, int(math.sqrt(len(values))))), color="#1f77b4")
    ax.set_xlabel("reward")
    ax.set_ylabel("items")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return _svg(fig)


def training(record: dict[str, Any]) -> str | None:
    """Per training round: the loss and the rollouts' mean reward."""
    rounds = [r for r in record.get("rounds") or [] if isinstance(r, dict)]
    if not rounds:
        return None
    xs = list(range(1, len(rounds) + 1))

    def series(get: Any) -> list[float | None]:
        out = []
        for r in rounds:
            try:
                value = get(r)
            except (KeyError, TypeError, AttributeError):
                value = None
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            out.append(float(value) if ok else None)
        return out

    panels = [
        ("loss", series(lambda r: r["metrics"]["loss"])),
        ("rollout mean reward", series(lambda r: r["batch"]["mean_reward"])),
    ]
    panels = [(name, ys) for name, ys in panels if any(y is not None for y in ys)]
    if not panels:
        return None
    fig = _figure(width=3.4 * len(panels), height=2.3)
    for i, (name, ys) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), i)
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        ax.plot(*zip(*points, strict=True), "o-", color=COLORS["rollouts"])
        _int_ticks(ax, xs)
        ax.set_xlabel("round")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    return _svg(fig)
