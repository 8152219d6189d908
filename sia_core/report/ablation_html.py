"""The page of an ablation (`sia ablate`): the paper's table, one learning curve per arm
(the held-out score of the incumbent after each generation, mean and band over the
seeds) and a link to each run's own page. Self-contained like a run's report: charts
inline as SVG, no script."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sia_core.errors import SiaError
from sia_core.report import charts
from sia_core.report.ablation import ARMS, run_id
from sia_core.report.html import CSP, STYLE, _figure, e

ARM_COLORS = {"initial": "#7f7f7f", "harness": "#1f77b4", "weights": "#2ca02c", "both": "#d62728"}
# Arms often tie (both = harness when the weights cannot move): each its own line style.
ARM_STYLES = {"initial": ":", "harness": "-", "weights": "-.", "both": "--"}


def read(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / "ablation.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SiaError(f"{root} is not an ablation (ablation.json: {exc})") from None


def incumbent_curve(run: Path) -> list[float | None]:
    """The held-out test score of the incumbent after each generation of a run."""
    try:
        state = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    curve: list[float | None] = []
    current = None
    for g in state.get("generations") or []:
        if g.get("incumbent") and g.get("test_score") is not None:
            current = float(g["test_score"])
        curve.append(current)
    return curve


def curves(root: Path, record: dict[str, Any]) -> dict[str, list[list[float | None]]]:
    seeds = record["config"]["seeds"]
    return {
        arm: [incumbent_curve(root / f"run_{run_id(arm, s)}") for s in seeds] for arm in ARMS
    }


def chart(by_arm: dict[str, list[list[float | None]]], metric: str) -> str | None:
    """Mean and min–max band over seeds of each arm's incumbent curve; the initial arm
    (one generation) drawn as a level line across."""
    length = max((len(c) for runs in by_arm.values() for c in runs), default=0)
    if length == 0:
        return None
    fig = charts._figure()  # noqa: SLF001 - the report's own figure factory
    ax = fig.add_subplot()
    xs = list(range(1, length + 1))
    for arm, runs in by_arm.items():
        # A run that ended early keeps its last incumbent for the later generations.
        rows = []
        for n in range(length):
            at = [c[min(n, len(c) - 1)] for c in runs if c]
            rows.append([v for v in at if v is not None])
        points = [(x, v) for x, v in zip(xs, rows, strict=True) if v]
        if not points:
            continue
        px = [x for x, _ in points]
        mean = [statistics.fmean(v) for _, v in points]
        color = ARM_COLORS[arm]
        ax.plot(px, mean, marker="o", ls=ARM_STYLES[arm], color=color, label=arm, ms=4, lw=2)
        ax.fill_between(px, [min(v) for _, v in points], [max(v) for _, v in points],
                        color=color, alpha=0.15)  # fmt: skip
    charts._int_ticks(ax, xs)  # noqa: SLF001
    ax.set_xlabel("generation")
    ax.set_ylabel(f"held-out {metric} of the incumbent")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return charts._svg(fig)  # noqa: SLF001


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def render(root: Path, link: Callable[[str], str | None], metric: str = "score") -> str:
    """The page. `link(run_id)`: the URL of a run's own page (None: no link)."""
    record = read(root)
    config = record["config"]
    rows = []
    for arm in ARMS:
        row = (record.get("table") or {}).get(arm)
        if row is None:
            rows.append(f"<tr><td>{arm}</td><td colspan=6>not finished yet</td></tr>")
            continue
        runs = []
        for s in config["seeds"]:
            url = link(run_id(arm, s))
            name = e(run_id(arm, s))
            runs.append(f'<a href="{e(url)}">{name}</a>' if url else name)
        if row.get("cannot_run"):
            cells = [f"cannot run: {e(row['cannot_run'])}", "-", "-"]
        else:
            interval = row.get("interval") or []
            ci = f"[{interval[0]:.4f}, {interval[1]:.4f}]" if len(interval) == 2 else "-"
            cells = [
                f"{_num(row['mean'])} ({_num(row['min'])}–{_num(row['max'])})",
                ci,
                e(", ".join(f"s{k}: {v}" for k, v in row["incumbent_levers"].items())),
            ]
        rows.append(
            f"<tr><td>{arm}</td><td>{cells[0]}</td><td>{cells[1]}</td><td>{cells[2]}</td>"
            f"<td>{row['seconds']:.0f} s</td><td>{row['tokens']:,}</td>"
            f"<td>{' '.join(runs)}</td></tr>"
        )
    inter = record.get("interaction") or {}
    if inter.get("value") is not None:
        ci = inter.get("interval") or []
        ci_text = f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if len(ci) == 2 else ""
        interaction = f"{inter['value']:+.4f}{ci_text}"
    else:
        interaction = f"- ({e(inter.get('why') or 'not finished yet')})"
    figure = _figure(
        chart(curves(root, record), metric),
        "curves",
        "the held-out score of each run's incumbent after each generation: the line is the "
        "mean over seeds, the band their range",
    ) or "<p class=muted>No run has finished yet.</p>"
    task = config.get("task") or config.get("task_dir")
    header = (
        "<tr><th>arm</th><th>held-out mean (min–max)</th><th>95% interval, seeds × items"
        "</th><th>final incumbent made by</th><th>wall</th><th>tokens</th><th>runs</th></tr>"
    )
    body = (
        f"<h1>sia ablation {e(record.get('id'))} · {e(task)}</h1>"
        f"<p class=sub>seeds {e(' '.join(map(str, config['seeds'])))} · --max-gen "
        f"{e(config['max_gen'])} · run options {e(' '.join(config.get('extra') or []) or '-')}"
        f" · wall {record.get('wall_s', 0):.0f} s, runs one after another "
        f"{record.get('sum_run_s', 0):.0f} s</p>"
        f"<h2>The four arms</h2><table>{header}{''.join(rows)}</table>"
        f"<p>interaction (both − harness − weights + initial): {interaction}</p>"
        f"<h2>Learning curves</h2>{figure}"
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>sia · ablation {e(record.get('id'))}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def metric_of(root: Path, record: dict[str, Any]) -> str:
    for seed in record["config"]["seeds"]:
        try:
            state = json.loads((root / f"run_{run_id('initial', seed)}" / "run.json").read_text())
        except (OSError, ValueError):
            continue
        return str(state.get("task", {}).get("metric", "score"))
    return "score"


def write(root: Path, out: Path | None = None) -> Path:
    """The ablation's page (default ROOT/report.html) and each run's own report.html,
    linked from it."""
    from sia_core.report import html as report_html
    from sia_core.report import run_view
    from sia_core.store import atomic_write_text

    record = read(root)
    made: set[str] = set()
    for arm in ARMS:
        for seed in record["config"]["seeds"]:
            run = root / f"run_{run_id(arm, seed)}"
            if (run / "run.json").is_file():
                report_html.write(run_view.load(run), run / "report.html")
                made.add(run_id(arm, seed))
    out = out or root / "report.html"
    base = Path(os.path.relpath(root.resolve(), out.parent.resolve())).as_posix() + "/"
    base = "" if base == "./" else base
    page = render(
        root,
        lambda rid: f"{base}run_{rid}/report.html" if rid in made else None,
        metric_of(root, record),
    )
    atomic_write_text(out, page)
    return out
