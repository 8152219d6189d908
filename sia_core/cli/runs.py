"""Looking at runs: `sia runs` (a line each), `sia show` (one in the terminal), `sia report`
(one as a page) and `sia web` (all of them, served)."""

from __future__ import annotations

from pathlib import Path

import click


def resolve_run(run: str, runs_dir: str) -> Path:
    """RUN as a path to a run directory, or as an id under --runs-dir."""
    from sia_core.errors import SiaError
    from sia_core.loop.run_dir import RunDir

    path = Path(run)
    if (path / "run.json").is_file():
        return path.resolve()
    if "/" in run or path.exists():
        what = "has no run.json" if path.is_dir() else "does not exist"
        raise SiaError(f"{run} is not a sia run ({what}): give a run directory or a run id")
    named = RunDir.named(Path(runs_dir), run.removeprefix("run_"))
    if not named.exists():
        raise SiaError(
            f"no run {run!r} in {Path(runs_dir).resolve()} (no run.json): "
            "`sia runs --runs-dir DIR` lists the runs there"
        )
    return named.path


def ablation_dir(name: str, runs_dir: str) -> Path | None:
    """NAME as an ablation (`sia ablate`): its directory, or an id under --runs-dir."""
    for path in (Path(name), Path(runs_dir) / f"ablation_{name.removeprefix('ablation_')}"):
        if (path / "ablation.json").is_file():
            return path.resolve()
    return None


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
    from sia_core.loop.run_dir import RunDir
    from sia_core.report.tables import output_console, print_summary

    rundir = RunDir(resolve_run(run, runs_dir))
    print_summary(rundir.read(), rundir, output_console())


@click.command("report")
@click.argument("run")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the page  [default: RUN/report.html]",
)
def report_cmd(run: str, runs_dir: str, output: Path | None) -> None:
    """Write one self-contained HTML page about a run (RUN: id or path); it opens offline
    and works on a run that is still going. An ablation (`sia ablate`; its id or
    directory) gets its table, learning curves and a page for each of its runs."""
    from sia_core.errors import SiaError
    from sia_core.report import html as report_html
    from sia_core.report import run_view

    ablation = ablation_dir(run, runs_dir)
    if ablation is not None:
        from sia_core.report import ablation_html

        page = ablation_html.write(ablation, output)
        click.echo(f"wrote {page} (and each run's report.html)")
        return
    view = run_view.load(resolve_run(run, runs_dir))
    out = output or view.path / "report.html"
    if out.is_dir():
        raise SiaError(f"{out} is a directory: give a file name, e.g. -o {out}/report.html")
    if not out.parent.is_dir():
        raise SiaError(f"{out.parent}: no such directory; create it or choose another -o")
    report_html.write(view, out)
    generations = len(view.generations)
    click.echo(f"wrote {out} ({generations} generation{'s' * (generations != 1)})")


@click.command("web")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
def web_cmd(runs_dir: str, host: str, port: int) -> None:
    """Serve the runs directory read-only: every run and its report, refreshed while a
    run is in progress."""
    from sia_core.report.web import make_server

    server = make_server(Path(runs_dir), host, port)
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"serving {Path(runs_dir).resolve()} at http://{bound_host}:{bound_port}/", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "warning: reachable from other machines; it shows agent code and trajectories",
            err=True,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
