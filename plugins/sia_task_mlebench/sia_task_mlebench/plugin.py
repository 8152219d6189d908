"""Entry point of sia-task-mlebench: the `mlebench` task loader and `sia mlebench prepare`.

Cheap to import; preparing a competition happens in the command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from sia_core.api import SiaError, TaskInfo, TaskLoaderSpec, hookimpl

PREFIX = "mlebench:"


def _prepared() -> list[Path]:
    from sia_task_mlebench.prepare import prepared_root

    root = prepared_root()
    return sorted(p for p in root.glob("*") if (p / "task.toml").is_file()) if root.is_dir() else []


def _resolve(name: str) -> Path | None:
    if not name.startswith(PREFIX):
        return None
    from sia_task_mlebench.prepare import default_location

    competition = name[len(PREFIX) :]
    path = default_location(competition)
    if not (path / "task.toml").is_file():
        raise SiaError(
            f"{competition} is not prepared yet; run: sia mlebench prepare -c {competition} "
            "(add --zip PATH to use a downloaded competition zip)"
        )
    return path


def _list() -> list[TaskInfo]:
    from sia_task_mlebench.recipes import KNOWN

    prepared = {p.name for p in _prepared()}
    names = sorted(prepared | set(KNOWN))
    return [
        TaskInfo(
            f"{PREFIX}{n}",
            f"Kaggle {n}, MLE-bench split" + ("" if n in prepared else " (sia mlebench prepare)"),
            available=n in prepared,
        )
        for n in names
    ]


@hookimpl
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    register(
        TaskLoaderSpec(
            name="mlebench",
            summary="Kaggle competitions prepared with `sia mlebench prepare`",
            list_tasks=_list,
            resolve=_resolve,
        )
    )


@click.group("mlebench")
def mlebench_group() -> None:
    """MLE-bench: Kaggle competitions as sia tasks."""


@mlebench_group.command("prepare")
@click.option("-c", "--competition", required=True, help="Kaggle competition name.")
@click.option(
    "--zip",
    "zip_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The competition zip, already downloaded (Kaggle's layout). Default: Kaggle API.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Task directory to write. Default: the sia cache, so --task mlebench:NAME finds it.",
)
@click.option(
    "--metric",
    type=click.Choice(["accuracy", "auc", "rmse", "logloss"]),
    help="The competition's metric; needed for competitions without a built-in recipe.",
)
@click.option("--label-column", help="Multiclass log-loss: the train.csv column of classes.")
@click.option(
    "--description",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file with the competition's overview, appended to task.md.",
)
@click.option("--force", is_flag=True, help="Replace an existing task directory.")
@click.option(
    "--lenient",
    is_flag=True,
    help="Count a missing row as wrong instead of MLE-bench's rule (an incomplete "
    "submission is invalid and gets no score).",
)
def prepare_cmd(
    competition: str,
    zip_path: Path | None,
    out: Path | None,
    metric: str | None,
    label_column: str | None,
    description: Path | None,
    force: bool,
    lenient: bool,
) -> None:
    """Split a competition as MLE-bench does and write a task directory for it."""
    from sia_core.api.tasks import cache_dir
    from sia_task_mlebench.prepare import prepare

    if zip_path is None:
        from sia_task_mlebench.kaggle_api import download

        zip_path = cache_dir() / "downloads" / "mlebench" / f"{competition}.zip"
        if not zip_path.is_file():
            click.echo(f"downloading {competition} from Kaggle ...")
            download(competition, zip_path)
    path = prepare(
        competition,
        zip_path,
        out,
        metric=metric,
        label_column=label_column,
        description=description.read_text("utf-8") if description else "",
        force=force,
        mlebench_rule=not lenient,
    )
    click.echo(f"task directory: {path}")
    if out is None:
        click.echo(f"run it with: sia run --task {PREFIX}{competition}")
    else:
        click.echo(f"run it with: sia run --task-dir {path}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(mlebench_group)
