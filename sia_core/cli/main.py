"""The `sia` command line. Subcommands import what they need when they run."""

from __future__ import annotations

import sys
from typing import Any

import click

from sia_core import __version__
from sia_core.errors import SiaError


class SiaGroup(click.Group):
    """Turns a SiaError into one line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SiaError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=SiaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sia")
def cli() -> None:
    """sia: improve an AI system on a benchmark task by rewriting its harness or
    training its weights, one generation at a time."""


def _register() -> None:
    from sia_core import plugins
    from sia_core.cli import ablate, catalog, reeval, run, runs, task

    cli.add_command(run.run)
    cli.add_command(ablate.ablate_cmd, "ablate")
    for command in (
        catalog.plugins_cmd,
        catalog.tasks_cmd,
        runs.runs_cmd,
        runs.show_cmd,
        runs.report_cmd,
        runs.web_cmd,
        reeval.eval_cmd,
        task.task_group,
    ):
        cli.add_command(command)
    try:
        plugins.add_commands(cli)
    except SiaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


_register()


def main() -> None:
    cli(prog_name="sia")
