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
@click.argument("task")
@click.option("--sandbox", default="local", show_default=True)
@click.option("--task-model", default=None, help="Task model for the reference harness.")
@click.option("--no-reference", is_flag=True, help="Skip running the reference harness.")
def check_cmd(task: str, sandbox: str, task_model: str | None, no_reference: bool) -> None:
    """Check TASK (a task directory, or a name `sia tasks` lists): layout, task.toml,
    private data out of reach, the validation split, id lists, the evaluator (twice) and
    the reference harness on a few items. Every problem is reported; the exit code is 0
    only when all pass."""
    from sia_core.loop.run_config import RunConfig
    from sia_core.loop.task_check import full_checks
    from sia_core.loop.wiring import resolve_task

    root = Path(task)
    if not root.is_dir():
        root = resolve_task(RunConfig(task=task)).root  # a bundled task, built on first use
    findings = full_checks(root.resolve(), sandbox, task_model, reference=not no_reference)
    for finding in findings:
        click.echo(finding.line())
    failed = sum(not f.ok and not f.skipped for f in findings)
    skipped = sum(f.skipped for f in findings)
    passed = len(findings) - failed - skipped
    click.echo(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    sys.exit(1 if failed else 0)
