"""`sia task new` and `sia task check`: a researcher's own task in two commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("task")
def task_group() -> None:
    """Make a task directory, and check one before any agent runs."""


@task_group.command("new")
@click.argument("name", type=click.Path())
@click.option("--from-csv", type=click.Path(dir_okay=False), help="A labelled CSV file.")
@click.option("--id-column", default="id", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--metric", default="accuracy", show_default=True, help="accuracy or macro_f1")
def new_cmd(
    name: str, from_csv: str | None, id_column: str, label_column: str, metric: str
) -> None:
    """Write a complete task directory NAME: from a labelled CSV file (20% of its rows
    become the private test split), or, without --from-csv, a commented example."""
    from sia_core.tasks.scaffold import new_task

    root = new_task(
        Path(name), Path(from_csv) if from_csv else None, id_column, label_column, metric
    )
    click.echo(f"wrote {root}")
    click.echo(f"next: sia task check {name}   then: sia run --task-dir {name}")


@task_group.command("check")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--sandbox", default="local", show_default=True)
@click.option("--task-model", default=None, help="Task model for the reference harness.")
@click.option("--no-reference", is_flag=True, help="Skip running the reference harness.")
def check_cmd(directory: str, sandbox: str, task_model: str | None, no_reference: bool) -> None:
    """Check a task directory: layout, task.toml, private data out of reach, the
    validation split, id lists, the evaluator (twice) and the reference harness on a
    few items. Every problem is reported; the exit code is 0 only when all pass."""
    from sia_core.tasks.check import full_checks

    findings = full_checks(
        Path(directory).resolve(), sandbox, task_model, reference=not no_reference
    )
    for finding in findings:
        click.echo(finding.line())
    failed = sum(not f.ok for f in findings)
    click.echo(f"{len(findings) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
