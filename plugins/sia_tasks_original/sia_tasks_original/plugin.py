"""Entry point of sia-tasks-original: the `original` task loader and `sia original fetch`.

Cheap to import: the data is fetched and built only when a task is used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from sia_core.api import TaskLoaderSpec, hookimpl
from sia_core.api.tasks import lazy_loader
from sia_tasks_original.catalog import TASKS

NAMES = tuple(TASKS)


@hookimpl
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    register(
        lazy_loader(
            "original",
            "the original SIA tasks; data from the sia-agent 0.6.0 wheel on first use",
            {n: TASKS[n].description for n in NAMES},
            "sia_tasks_original.build",
        )
    )


@click.group("original")
def original_group() -> None:
    """The original SIA tasks: gpqa, lawbench, longcot-chess, spaceship-titanic."""


@original_group.command("fetch")
@click.argument("names", nargs=-1, type=click.Choice(NAMES))
@click.option(
    "--data-from",
    type=click.Path(exists=True, path_type=Path),
    help="The sia-agent 0.6.0 wheel, or an unpacked copy, instead of fetching from PyPI.",
)
@click.option("--force", is_flag=True, help="Rebuild tasks that are already in the cache.")
def fetch_cmd(names: tuple[str, ...], data_from: Path | None, force: bool) -> None:
    """Build the task directories (all four unless NAMES are given) in the sia cache."""
    from sia_tasks_original.build import build
    from sia_tasks_original.source import from_path

    source = from_path(data_from) if data_from else None
    for name in names or NAMES:
        click.echo(f"{name}: {build(name, source, force=force)}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(original_group)
