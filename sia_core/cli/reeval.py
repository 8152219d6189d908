"""`sia eval`: a stored generation's harness run again on a split (sia_core.loop.reeval)."""

from __future__ import annotations

import click


@click.command("eval")
@click.argument("run")
@click.option("--gen", "generation", type=click.IntRange(min=1), help="[default: the incumbent]")
@click.option(
    "--split", type=click.Choice(["selection", "test"]), default="selection", show_default=True
)
@click.option("--repeat", type=click.IntRange(min=1, max=100), default=1, show_default=True)
@click.option(
    "--candidate",
    type=click.IntRange(min=1),
    help="One of the generation's candidates (gen_N/candidates/K) instead of gen_N itself.",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1, max=256),
    help="Sandboxes the split is spread over [default: the run's --parallel].",
)
@click.option(
    "--exact",
    is_flag=True,
    help="Open-weight task model: sample every greedy call alone [default: the run's].",
)
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
def eval_cmd(
    run: str,
    generation: int | None,
    split: str,
    repeat: int,
    candidate: int | None,
    parallel: int | None,
    exact: bool,
    runs_dir: str,
) -> None:
    """Run a saved generation again (its harness, requirements and adapter) and report its
    score; with --repeat K, the mean and spread (RUN: id or path)."""
    from rich.console import Console

    from sia_core.cli.progress import RichReporter
    from sia_core.cli.runs import resolve_run
    from sia_core.loop.reeval import reevaluate

    console = Console()
    with RichReporter(console) as reporter:
        result = reevaluate(
            resolve_run(run, runs_dir),
            generation,
            split,
            repeat,
            reporter,
            candidate,
            parallel,
            exact,
        )

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    for k, (score, error) in enumerate(zip(result.scores, result.errors, strict=True), 1):
        click.echo(f"repeat {k}: {num(score)}" + (f" (error: {error})" if error else ""))
    what = f"generation {result.generation}" + (f" candidate {candidate}" if candidate else "")
    line = f"{what} on {split}: "
    if repeat > 1:
        line += f"mean {num(result.mean)}, sd {num(result.spread)} over {len(result.scored)}"
        if result.scored:
            line += f" (min {num(min(result.scored))}, max {num(max(result.scored))})"
    else:
        line += num(result.mean)
    line += f"; recorded in the run: {num(result.recorded)}"
    click.echo(line)
    click.echo(f"evaluations kept in {result.out}")
