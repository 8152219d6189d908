"""`sia plugins` and `sia tasks`: what is installed."""

from __future__ import annotations

import json
from dataclasses import asdict

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
