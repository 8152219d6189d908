"""Putting a split's shards back together (`--parallel N`): the row files each shard's
agent wrote, its logs, and what its sandbox reported, so that the evaluator and every
record after it see one run of the harness over the whole split.

How the rows are cut is in sia_core.tasks.splits.shard_views.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import BinaryIO

from sia_core.sandbox.api import OUTPUTS_REFUSED, SandboxResult
from sia_core.tasks.task import ShardSpec

SHARDS_DIR = "shards"
"""Where each shard's outputs land in the split's output directory (shards/K/)."""


MAX_COLUMNS = 10_000
"""Columns a shard's CSV header may have: a header is agent-written, and a row of the
merged file has one field per column of the union."""
COPY_CHUNK = 1 << 20


def merge_outputs(spec: ShardSpec, shard_outs: list[Path], out: Path) -> list[str]:
    """Write each of `spec.outputs` into `out`, the shards' rows in shard order; a shard
    that wrote no such file adds no rows (its items count as missing). Returns what was
    wrong with a shard's file, one line each.

    The files are agent-written: they are streamed (memory does not grow with their
    size) and the column union is linear in the header sizes."""
    problems = []
    for name in spec.outputs:
        parts = [(k, shard / name) for k, shard in enumerate(shard_outs, 1)]
        present = [(k, path) for k, path in parts if path.is_file() and not path.is_symlink()]
        if not present:
            continue
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".jsonl":
            with target.open("wb") as fh:
                for _, path in present:
                    _append(path, fh)
            continue
        problems += _merge_csv(present, target, len(shard_outs))
    return problems


def _append(path: Path, fh: BinaryIO) -> None:
    """Copy a file's bytes in chunks, ending it with a newline if it has none."""
    last = b"\n"
    with path.open("rb") as src:
        while chunk := src.read(COPY_CHUNK):
            fh.write(chunk)
            last = chunk[-1:]
    if last != b"\n":
        fh.write(b"\n")


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])


def _merge_csv(present: list[tuple[int, Path]], target: Path, total: int) -> list[str]:
    columns: list[str] = []
    known: set[str] = set()
    readable: list[tuple[int, Path, list[str]]] = []
    problems = []
    for k, path in present:
        try:
            header = _header(path)
        except (csv.Error, UnicodeDecodeError) as exc:
            problems.append(f"shard {k}/{total}: {path.name} is not readable CSV ({exc})")
            continue
        if len(header) > MAX_COLUMNS:
            problems.append(
                f"shard {k}/{total}: {path.name} has {len(header)} columns; at most "
                f"{MAX_COLUMNS} are merged, so its rows are left out"
            )
            continue
        for column in header:
            if column not in known:
                known.add(column)
                columns.append(column)
        readable.append((k, path, header))
    position = {column: i for i, column in enumerate(columns)}
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for k, path, header in readable:
            # A column named twice in one header keeps its last value, as DictReader does.
            slots = [position[c] for c in header]
            try:
                with path.open(newline="", encoding="utf-8") as src:
                    reader = csv.reader(src)
                    next(reader, None)
                    for row in reader:
                        merged = [""] * len(columns)
                        for slot, value in zip(slots, row, strict=False):
                            merged[slot] = value
                        writer.writerow(merged)
            except (csv.Error, UnicodeDecodeError) as exc:
                problems.append(f"shard {k}/{total}: {path.name} is not readable CSV ({exc})")
    return problems


def merge_logs(shard_outs: list[Path], out: Path) -> None:
    """The agent's stdout and stderr logs of every shard, one after another, under a
    header each, where a single run's logs would be."""
    for stream in ("stdout", "stderr"):
        name = f"target_agent_{stream}.log"
        with (out / name).open("wb") as fh:
            for k, shard in enumerate(shard_outs, 1):
                fh.write(f"=== shard {k}/{len(shard_outs)} ===\n".encode())
                log = shard / name
                if log.is_file() and not log.is_symlink():
                    _append(log, fh)


def merge_results(results: list[SandboxResult], problems: list[str]) -> SandboxResult:
    """One result for the shards' runs: failed if any shard failed, as long as the
    longest, the failing shards' output last (a failure is named by its last line)."""
    total = len(results)
    failed = [k for k, r in enumerate(results, 1) if not r.ok]
    order = [k for k in range(1, total + 1) if k not in failed] + failed
    violations = [
        f"shard {k}/{total}: {results[k - 1].violation}" for k in order if results[k - 1].violation
    ] + problems
    violation = "; ".join(violations) or None
    if all(r.outputs_refused for r in results):
        violation = OUTPUTS_REFUSED + f"every shard's: {violation}"
    codes = [r.exit_code for r in results]
    exit_code = next((c for c in (results[k - 1].exit_code for k in failed) if c), None)
    if exit_code is None:
        exit_code = None if None in codes else 0
    return SandboxResult(
        exit_code=exit_code,
        timed_out=any(r.timed_out for r in results),
        duration_s=max(r.duration_s for r in results),
        stdout_tail="\n".join(results[k - 1].stdout_tail for k in order).strip(),
        stderr_tail="\n".join(results[k - 1].stderr_tail for k in order).strip(),
        isolation=[*results[0].isolation, f"shards: {total}"],
        violation=violation,
        dropped=[
            f"{SHARDS_DIR}/{k}/{name}" for k, r in enumerate(results, 1) for name in r.dropped
        ],
    )
