"""`sia run`."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from sia_core.loop.run_config import OPTIONS, check_scripted, config_from_options, field_of

EXIT_FINISHED = 0
EXIT_BAD_INPUT = 2  # a SiaError: one line on stderr (sia_core.cli.main)
EXIT_NOTHING_SCORED = 3
EXIT_STOPPED = 4
EXIT_INTERRUPTED = 130


def exit_code(state: dict[str, object]) -> int:
    """How a finished `sia run` ends: docs/configuration.md lists the codes."""
    generations = state.get("generations") or []
    if not any(g.get("status") == "ok" for g in generations):  # type: ignore[union-attr]
        return EXIT_NOTHING_SCORED
    if state.get("status") == "stopped":
        return EXIT_STOPPED
    return EXIT_FINISHED


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _given_fields() -> set[str]:
    """RunConfig fields set by options typed on the command line (not defaults)."""
    ctx = click.get_current_context()
    return {
        field_of(name)
        for name in ctx.params
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        and name != "resume"
    }


def _run_options(command: Callable[..., None]) -> Callable[..., None]:
    """`sia run`'s options, one per row of the option table (sia_core.loop.run_config)."""
    for option in reversed(OPTIONS):
        default = option.default()
        command = click.option(
            option.flag,
            option.param,
            type=option.type,
            default=default,
            show_default=default is not None and not option.is_flag,
            multiple=option.multiple,
            metavar=option.metavar,
            is_flag=option.is_flag,
            help=option.help,
        )(command)
    return command


@click.command()
@_run_options
@click.option("--resume", is_flag=True, help="Continue a run from its last whole generation.")
def run(resume: bool, **values: Any) -> None:
    """Run generations of self-improvement on a task."""
    from rich.console import Console

    from sia_core.cli.progress import RichReporter
    from sia_core.errors import SiaError
    from sia_core.loop.generation_loop import Loop
    from sia_core.report.tables import output_console, print_summary

    if resume and not values["run_id"]:
        raise SiaError("--resume needs --run-id: the run to continue")
    if not resume and not (values["task"] or values["task_dir"]):
        raise SiaError("name a task: --task NAME or --task-dir PATH")
    config = config_from_options(values, resume)
    console = Console(stderr=False)
    signal.signal(signal.SIGTERM, _terminate)
    loop = Loop(config, resume=resume, explicit=_given_fields())
    if not resume:
        check_scripted(loop.config)  # after the task's own checks, which say more
    try:
        with RichReporter(console) as reporter:
            loop.reporter = reporter
            state = loop.run()
    except KeyboardInterrupt:
        click.echo(
            f"interrupted; continue with: sia run --resume --run-id {loop.config.run_id}"
            f" --runs-dir {loop.config.runs_dir}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    print_summary(state, loop.rundir, output_console())
    sys.exit(exit_code(state))
