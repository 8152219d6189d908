"""Tables and summaries of runs, for `sia run`, `sia runs` and `sia show`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from sia_core.generation_record import GenerationRecord, ModelCalls
from sia_core.loop.run_dir import RunDir, held_out, list_runs
from sia_core.usage import Usage

WIDE = 1000
"""Columns of a console whose output is not a terminal: no table is ever cut."""


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _local_model(state: dict[str, Any]) -> bool:
    return bool((state.get("task_model") or {}).get("local"))


@dataclass
class Rows:
    """A table as data, printed by `print_rows`: a grid when it fits, else stacked."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def grid(self) -> Table:
        table = Table(title=self.title)
        for column in self.columns:
            table.add_column(column, no_wrap=True)
        for row in self.rows:
            table.add_row(*row)
        return table


def output_console() -> Console:
    """A console for tables: the terminal's width on a terminal; piped or redirected,
    wide enough that nothing is cut (a script reads every value whole)."""
    console = Console()
    return console if console.is_terminal else Console(width=WIDE)


def print_rows(console: Console, table: Rows) -> None:
    """The grid when it fits the console; narrower, each row stacked as `column value`
    pairs on lines the terminal wraps. Either way no value is ever cut short."""
    grid = table.grid()
    # measured as if unbounded: a measure within the console's width is clamped to it
    needed = Measurement.get(console, console.options.update_width(WIDE), grid).maximum
    if needed <= console.width:
        console.print(grid)
        return
    console.print(table.title, soft_wrap=True, markup=False)
    for row in table.rows:
        pairs = "  ".join(f"{c}: {v}" for c, v in zip(table.columns, row, strict=True) if v)
        console.print(f"  {pairs}", soft_wrap=True, markup=False, highlight=False)


def generations_table(state: dict[str, Any], records: list[GenerationRecord]) -> Rows:
    metric = state.get("task", {}).get("metric", "score")
    table = Rows(
        f"run {state.get('run_id')} · {state.get('task', {}).get('name')} · {metric}",
        ("gen", "status", "lever", "selection", "test", "incumbent", "tokens", "cost $"),
    )
    for r in records:
        totals = r.totals()
        lever = r.lever or "-"
        if r.algorithm:
            lever += f" ({r.algorithm})"
        table.rows.append(
            (
                str(r.number),
                r.status,
                lever,
                _num(r.score),
                _num(r.test_score),
                "yes" if r.incumbent else "",
                str(totals.tokens),
                cost_text(state, totals),
            )
        )
    return table


def cost_text(state: dict[str, Any], totals: Usage) -> str:
    """A generation's task-model cost in dollars: "local" for the embedded model,
    "unknown" when no call had a price."""
    if _local_model(state):
        return "local"
    if totals.calls_without_price and not totals.cost_usd:
        return "unknown"
    return f"{totals.cost_usd:.4f}"


def keep_text(record: GenerationRecord) -> str:
    """The keep rule's verdict in a few words: difference, 95% interval, kept or not."""
    keep = record.keep or {}
    if keep.get("difference") is None:
        return ""
    interval = keep.get("interval") or []
    text = f"vs incumbent {keep['difference']:+.4f}"
    if len(interval) == 2:
        text += f" [{interval[0]:+.4f}, {interval[1]:+.4f}]"
    verdict = "kept" if keep.get("kept") else "not kept"
    return f"{text} → {verdict} ({keep.get('reason')})"


def notes(records: list[GenerationRecord]) -> list[str]:
    """Per generation: why it failed, or why it was made, and the keep rule's verdict."""
    lines = []
    for r in records:
        note = r.error or (r.decision or {}).get("rationale", "")
        if note:
            lines.append(f"gen {r.number}: {note}")
        calls = r.model_calls().text()
        if calls and "model calls failed" not in (r.error or ""):
            lines.append(f"gen {r.number}: {calls}")
        if keep_text(r):
            lines.append(f"gen {r.number}: {keep_text(r)}")
        for c in r.candidates or []:
            score = "-" if c.get("score") is None else f"{c['score']:.4f}"
            lever = (c.get("lever") or "-") + (f" ({c['algorithm']})" if c.get("algorithm") else "")
            chosen = " ← chosen" if c.get("candidate") == r.candidate else ""
            lines.append(
                f"gen {r.number} candidate {c.get('candidate')}: {c.get('status')} {score} "
                f"{lever}{chosen}"
            )
    return lines


def knob_trials_line(run: Path, direction: str) -> str:
    """One line on the knob search: trials run, the best one's setting."""
    from sia_core.harness.knob_search import STUDY_FILE, KnobSearch

    if not (run / STUDY_FILE).is_file():
        return ""
    rows = [
        t for t in KnobSearch(run, direction, 0).table() if t["how"] not in ("parent", "repeat")
    ]
    done = [t for t in rows if t["state"] == "complete" and t["score"] is not None]
    line = f"knob trials: {len(rows)} ({len(done)} scored)"
    if done:
        pick = min if direction == "min" else max
        best = pick(done, key=lambda t: t["score"])
        values = ", ".join(f"{k}={v!r}" for k, v in (best["values"] or {}).items())
        line += f"; best selection {best['score']:.4f} (gen {best['gen']}): {values}"
    return line


def print_summary(state: dict[str, Any], rundir: RunDir, console: Console) -> None:
    records = rundir.records()
    print_rows(console, generations_table(state, records))
    for line in notes(records):
        console.print(line, soft_wrap=True, markup=False)
    task = state.get("task", {})
    console.print(
        f"status: {state.get('status')}"
        + (f" ({state['stop_reason']})" if state.get("stop_reason") else ""),
        markup=False,
    )
    best = state.get("best")
    if best is None:
        console.print("no generation scored; nothing to report")
    else:
        held = "held-out test" if held_out(task) else "test (also used for selection)"
        console.print(
            f"incumbent: generation {best['generation']} · selection "
            f"{task.get('metric')} {_num(best['selection_score'])} · {held} "
            f"{task.get('metric')} {_num(best.get('test_score'))}"
        )
    console.print(f"selection split: {task.get('selection')}")
    trials = knob_trials_line(rundir.path, str(task.get("direction", "max")))
    if trials:
        console.print(trials, markup=False)
    config = state.get("config") or {}
    if config.get("candidates", 1) > 1 or config.get("keep_rule", "raw") != "raw":
        console.print(
            f"candidates per generation: {config.get('candidates', 1)} · keep rule: "
            f"{config.get('keep_rule', 'raw')} · parents: {config.get('parent', 'incumbent')}"
        )
    tokens = state.get("tokens", {})
    cost = state.get("cost_usd", 0.0)
    unpriced = state.get("calls_without_price", 0)
    price = f"${cost:.4f}" + (f" (+{unpriced} calls of unknown price)" if unpriced else "")
    if _local_model(state):
        price = "local model (no price)"
    console.print(
        f"task-model tokens: {tokens.get('prompt', 0)} prompt, "
        f"{tokens.get('completion', 0)} completion · cost {price}"
    )
    calls = run_calls(records)
    if calls.failed:
        console.print(f"task-model calls: {calls.text()}", soft_wrap=True, markup=False)
    agent = state.get("agent_usage") or {}
    if agent.get("sessions"):
        unknown = agent.get("sessions_without_price", 0)
        agent_price = f"${agent.get('cost_usd', 0.0):.4f}" + (
            f" (+{unknown} sessions of unknown price)" if unknown else ""
        )
        console.print(
            f"agent sessions: {agent['sessions']} · {agent.get('input_tokens', 0)} input, "
            f"{agent.get('output_tokens', 0)} output tokens · cost {agent_price}"
        )
    console.print(f"run directory: {rundir.path}")


def run_calls(records: list[GenerationRecord]) -> ModelCalls:
    """Every generation's task-model calls, summed."""
    return ModelCalls.summed(part for record in records for part in record.usage.values())


def runs_table(runs_dir: Path) -> Rows:
    table = Rows(
        f"runs in {runs_dir}",
        ("run", "task", "status", "generations", "best gen", "selection", "test"),
    )
    for path, state in list_runs(runs_dir):
        best = state.get("best") or {}
        table.rows.append(
            (
                str(state.get("run_id", path.name)),
                str(state.get("task", {}).get("name", "?")),
                str(state.get("status", "?")),
                str(len(state.get("generations", []))),
                str(best.get("generation", "-")),
                _num(best.get("selection_score")),
                _num(best.get("test_score")),
            )
        )
    return table
