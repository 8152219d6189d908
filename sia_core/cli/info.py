"""`sia plugins`, `sia tasks`, `sia runs`, `sia show`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_cmd(as_json: bool) -> None:
    """List installed plugins, their distributions and what each registered."""
    from rich.console import Console
    from rich.table import Table

    from sia_core import plugins

    reports = plugins.plugin_reports()
    if as_json:
        click.echo(json.dumps([asdict(r) for r in reports], indent=2))
        return
    table = Table(title="sia plugins")
    for column in ("plugin", "distribution", "version", "registers"):
        table.add_column(column)
    for r in reports:
        registers = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in r.registered.items())
        if not registers:
            registers = ", ".join(r.hooks) or "nothing yet"
        table.add_row(r.name, r.distribution or "-", r.version or "-", registers)
    console = Console()
    console.print(table)
    from sia_core.weights.plan import options_text, rollout_text

    for spec in plugins.rl_algorithms():
        console.print(f'RL algorithm {spec.name!r}, decision options under "algorithm":')
        console.print(options_text(spec.config), highlight=False, markup=False)
    console.print('Rollout options (every algorithm), under "rollout":')
    console.print(rollout_text(), highlight=False, markup=False)


@click.command("tasks")
def tasks_cmd() -> None:
    """List the tasks the installed task loaders know."""
    from rich.console import Console
    from rich.table import Table

    from sia_core import plugins

    table = Table(title="sia tasks")
    for column in ("task", "loader", "data", "description"):
        table.add_column(column)
    for entry in plugins.registered("task_loaders").values():
        for info in entry.spec.list_tasks():
            table.add_row(
                info.name,
                entry.name,
                "ready" if info.available else "prepared on first use",
                info.description,
            )
    Console().print(table)
    click.echo("A task directory in the SIA layout also works anywhere: --task-dir PATH.")


@click.command("runs")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
def runs_cmd(runs_dir: str) -> None:
    """List runs with their best generation and scores."""
    from sia_core.report.tables import output_console, print_rows, runs_table

    print_rows(output_console(), runs_table(Path(runs_dir).resolve()))


@click.command("show")
@click.argument("run")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
def show_cmd(run: str, runs_dir: str) -> None:
    """Show a run's generations, scores, decisions, tokens and cost (RUN: id or path)."""
    from sia_core.cli.view import resolve_run
    from sia_core.loop.run_dir import RunDir
    from sia_core.report.tables import output_console, print_summary

    rundir = RunDir(resolve_run(run, runs_dir))
    print_summary(rundir.read(), rundir, output_console())
