"""Containment, round 2: hostile agent outputs and requests aimed at sia's own process.
Each test measures the resource the attack targeted (CPU seconds, peak RSS, tokens
served) in a child process that does only sia's part of the work."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sia_core.shards import MAX_COLUMNS, merge_outputs
from sia_core.task import ShardSpec


def measured(script: str, *args: str) -> dict:
    """Run `script` in a fresh Python; its CPU seconds and peak RSS (MiB) as it reports
    them, plus whatever JSON it printed last."""
    code = textwrap.dedent(script) + textwrap.dedent(
        """
        import json as _json, resource as _resource
        _usage = _resource.getrusage(_resource.RUSAGE_SELF)
        print(_json.dumps({"cpu_s": _usage.ru_utime + _usage.ru_stime,
                           "peak_mib": _usage.ru_maxrss / 1024, **globals().get("RESULT", {})}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


MERGE = """
import sys
from pathlib import Path
from sia_core.shards import merge_outputs
from sia_core.task import ShardSpec
root = Path(sys.argv[1])
shards = sorted(p for p in root.glob("shard*") if p.is_dir())
spec = ShardSpec("test.csv", ("predictions.csv", "p.jsonl"))
problems = merge_outputs(spec, shards, root / "out")
RESULT = {"problems": problems}
"""


def test_a_wide_csv_header_costs_sia_linear_time(tmp_path: Path) -> None:
    """Before: a 120,000-column header cost the merge ~136 s of CPU (a quadratic union)."""
    one, two = tmp_path / "shard1", tmp_path / "shard2"
    for shard in (one, two):
        shard.mkdir()
    (one / "predictions.csv").write_text("id,answer\nq1,yes\n")
    wide = [f"c{i}" for i in range(9_999)]
    (two / "predictions.csv").write_text(",".join(["id", "answer", *wide[:9_998]]) + "\nq2,no\n")
    result = measured(MERGE, str(tmp_path))
    assert result["problems"] == [] and result["cpu_s"] < 10
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert rows[0].startswith("id,answer,c0,") and rows[1].startswith("q1,yes,,")
    assert rows[2].startswith("q2,no,,")

    (two / "predictions.csv").write_text(",".join(f"x{i}" for i in range(120_000)) + "\n1\n")
    result = measured(MERGE, str(tmp_path))
    assert result["cpu_s"] < 10, result
    assert result["problems"] == [
        f"shard 2/2: predictions.csv has 120000 columns; at most {MAX_COLUMNS} are merged, "
        "so its rows are left out"
    ]
    assert (tmp_path / "out" / "predictions.csv").read_bytes() == b"id,answer\r\nq1,yes\r\n"


def test_large_shard_outputs_are_streamed_not_held(tmp_path: Path) -> None:
    """Before: 46 MiB of shard outputs grew sia from 47 MiB to 3.2 GiB."""
    for k in (1, 2):
        shard = tmp_path / f"shard{k}"
        shard.mkdir()
        line = "q{},{}\n".format(k, "y" * 60)
        with (shard / "predictions.csv").open("w") as fh:
            fh.write("id,answer\n")
            fh.writelines(line for _ in range(400_000))  # ~25 MiB each
        with (shard / "p.jsonl").open("w") as fh:
            fh.writelines('{"id": "a", "x": "%s"}\n' % ("z" * 200) for _ in range(100_000))
    baseline = measured("import sia_core.shards")
    result = measured(MERGE, str(tmp_path))
    assert result["problems"] == []
    assert result["peak_mib"] - baseline["peak_mib"] < 64, (result, baseline)
    merged = tmp_path / "out" / "predictions.csv"
    assert merged.stat().st_size > 45 * 2**20
    with merged.open() as fh:
        assert sum(1 for _ in fh) == 800_001
    assert (tmp_path / "out" / "p.jsonl").stat().st_size == 2 * (
        tmp_path / "shard1" / "p.jsonl"
    ).stat().st_size


def test_merge_keeps_columns_in_first_seen_order(tmp_path: Path) -> None:
    shards = []
    for k, text in enumerate(["id,a\n1,x\n", "b,id\ny,2\n", "id,a,a\n3,p,q\n"], 1):
        shard = tmp_path / f"s{k}"
        shard.mkdir()
        (shard / "p.csv").write_text(text)
        shards.append(shard)
    assert merge_outputs(ShardSpec("t.csv", ("p.csv",)), shards, tmp_path / "out") == []
    assert (tmp_path / "out" / "p.csv").read_text().splitlines() == [
        "id,a,b",
        "1,x,",
        "2,,y",
        "3,q,",
    ]


@pytest.mark.parametrize("ending", [b"", b"\n"])
def test_jsonl_pieces_are_joined_on_line_boundaries(tmp_path: Path, ending: bytes) -> None:
    shards = []
    for k in (1, 2):
        shard = tmp_path / f"s{k}"
        shard.mkdir()
        (shard / "p.jsonl").write_bytes(b'{"id": %d}' % k + ending)
        shards.append(shard)
    merge_outputs(ShardSpec("t.csv", ("p.jsonl",)), shards, tmp_path / "out")
    assert (tmp_path / "out" / "p.jsonl").read_bytes() == b'{"id": 1}\n{"id": 2}\n'
