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

from sia_core.execution.shards import MAX_COLUMNS, merge_outputs
from sia_core.tasks.task import ShardSpec
from sia_core.testing.fakes import FakeOpenAI


def measured(script: str, *args: str) -> dict:
    """Run `script` in a fresh Python; its CPU seconds and peak RSS (MiB, VmHWM) as it
    reports them, plus whatever JSON it printed last."""
    code = textwrap.dedent(script) + textwrap.dedent(
        """
        import json as _json, resource as _resource
        _usage = _resource.getrusage(_resource.RUSAGE_SELF)
        # VmHWM, not ru_maxrss: Linux carries the forking parent's RSS into ru_maxrss
        # across exec, so a child of a large pytest would report pytest's size.
        _hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        print(_json.dumps({"cpu_s": _usage.ru_utime + _usage.ru_stime,
                           "peak_mib": int(_hwm.split()[1]) / 1024,
                           **globals().get("RESULT", {})}))
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
from sia_core.execution.shards import merge_outputs
from sia_core.tasks.task import ShardSpec
from sia_core.testing.fakes import FakeOpenAI
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
    baseline = measured("import sia_core.execution.shards")
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


def _words(body: dict) -> str:
    """An upstream that reads only `max_tokens`, as llama.cpp's server does."""
    return " ".join(["w"] * int(body.get("max_tokens") or 16))


@pytest.mark.parametrize("path", ["passthrough", "litellm"])
def test_the_budget_holds_whichever_cap_name_the_upstream_reads(tmp_path: Path, path) -> None:
    """Before: the gateway reserved max_completion_tokens but forwarded both names, and
    an upstream reading max_tokens served 20,696 tokens against a 3,000 budget."""
    import openai

    from sia_core.gateway.server import Budget, Gateway
    from sia_core.gateway.upstream import passthrough_model
    from sia_core.policy.models import LiteLLMModel
    from sia_core.testing.fakes import FakeOpenAI

    with FakeOpenAI(agent=_words) as provider:
        model = (
            passthrough_model("openai/fake", provider.url, max_retries=0)
            if path == "passthrough"
            else LiteLLMModel("openai/fake", api_base=provider.url, api_key="sk-test")
        )
        with Gateway(model, tmp_path / "calls.jsonl", budget=Budget(max_tokens=3000)) as gw:
            client = openai.OpenAI(base_url=gw.url, api_key=gw.token, max_retries=0)
            outcomes = []
            for _ in range(5):
                try:
                    client.chat.completions.create(
                        model="m",
                        messages=[{"role": "user", "content": "hi"}],
                        max_completion_tokens=10,
                        extra_body={"max_tokens": 5000},
                    )
                    outcomes.append("ok")
                except openai.APIStatusError as exc:
                    outcomes.append(exc.status_code)
            served = gw.usage.completion_tokens
            # The larger cap is reserved and forwarded under both names.
            small = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=7
            )
    assert outcomes == [402] * 5 and served == 0
    assert small.usage.completion_tokens == 7
    sent = provider.requests[-1]
    assert sent.get("max_tokens") == 7
    assert sent.get("max_completion_tokens") in (7, None)  # litellm may drop one name


def test_an_upstream_that_ignores_the_cap_is_counted_and_stopped(tmp_path: Path) -> None:
    import openai

    from sia_core.gateway.server import Budget, Gateway
    from sia_core.gateway.upstream import passthrough_model
    from sia_core.testing.fakes import FakeOpenAI

    with FakeOpenAI(agent=lambda body: " ".join(["w"] * 2000)) as provider:
        model = passthrough_model("openai/fake", provider.url, max_retries=0)
        with Gateway(model, tmp_path / "calls.jsonl", budget=Budget(max_tokens=3000)) as gw:
            client = openai.OpenAI(base_url=gw.url, api_key=gw.token, max_retries=0)
            statuses = []
            for _ in range(4):
                try:
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=100
                    )
                    statuses.append(200)
                except openai.APIStatusError as exc:
                    statuses.append(exc.status_code)
            served = gw.usage.completion_tokens
    assert statuses == [200, 200, 402, 402]  # 2000 served, then 4000: over, nothing more
    assert served == 4000
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [c.get("over_cap") for c in calls[:2]] == [True, True]


GATEWAY = """
import json, sys
import sia_core.gateway.server as g
g.READ_TIMEOUT_S = 2.0
gw = g.Gateway(None, __import__("pathlib").Path(sys.argv[1]) / "calls.jsonl").start()
print(json.dumps({"url": gw.url, "token": gw.token}), flush=True)
sys.stdin.readline()
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_mib": int(hwm.split()[1]) / 1024}), flush=True)
"""


def _flood(url: str, token: str | None, connections: int, size: int) -> list[int]:
    """`connections` requests at once, each declaring and sending `size` body bytes;
    the HTTP status each got (0: the connection was closed on it)."""
    import socket
    import threading
    from urllib.parse import urlparse

    where = urlparse(url)
    statuses = [0] * connections
    chunk = b"x" * (1 << 20)

    def one(i: int) -> None:
        with socket.create_connection((where.hostname, where.port), timeout=60) as sock:
            auth = f"Authorization: Bearer {token}\r\n" if token else ""
            sock.sendall(
                (
                    f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{auth}"
                    f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
                ).encode()
            )
            try:
                for _ in range(size // len(chunk)):
                    sock.sendall(chunk)
            except OSError:
                pass
            try:
                statuses[i] = int(sock.recv(64).split()[1])
            except (OSError, IndexError, ValueError):
                statuses[i] = 0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _gateway_peak(tmp_path: Path, attack) -> tuple[float, object]:
    proc = subprocess.Popen(
        [sys.executable, "-c", GATEWAY, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        hello = json.loads(proc.stdout.readline())
        outcome = attack(hello["url"], hello["token"])
        proc.stdin.write("\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())["peak_mib"], outcome
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_request_bodies_are_bounded_before_and_after_the_token(tmp_path: Path) -> None:
    """Before: 100 connections without a token, each sending a large body, grew sia by
    3.2 GiB: the body was read whole before the token was checked."""
    quiet, _ = _gateway_peak(tmp_path, lambda url, token: None)
    size = 30 << 20
    no_token, statuses = _gateway_peak(tmp_path, lambda url, token: _flood(url, None, 40, size))
    assert set(statuses) <= {401, 0} and 401 in statuses
    assert no_token - quiet < 64, (quiet, no_token)
    # The agent's own token: at most MAX_BUFFERED bytes are held; the rest wait or get 503.
    valid, statuses = _gateway_peak(tmp_path, lambda url, token: _flood(url, token, 40, size))
    assert 503 in statuses
    assert valid - quiet < 400, (quiet, valid)


def test_a_slow_reader_is_timed_out(tmp_path: Path) -> None:
    import socket
    from urllib.parse import urlparse

    def slow(url: str, token: str) -> bytes:
        where = urlparse(url)
        with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
            sock.sendall(
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                f"{token}\r\nContent-Length: 1000\r\n\r\n{{".encode()
            )
            return sock.recv(200)

    _, answer = _gateway_peak(tmp_path, slow)
    assert answer.startswith(b"HTTP/1.1 408")


def test_invented_item_ids_do_not_inflate_the_count(tmp_path: Path) -> None:
    """Before: every distinct X-SIA-Item counted, so a report could say 15 of 10 items."""
    import openai

    from sia_core.gateway.accounting import MAX_UNKNOWN_ITEMS
    from sia_core.gateway.server import Gateway
    from sia_core.gateway.upstream import passthrough_model
    from sia_core.tasks.splits import split_items
    from sia_core.tasks.task import load_task_dir
    from tests.conftest import make_task

    task = load_task_dir(make_task(tmp_path / "task", train=20, test=10))
    known = split_items(task, [task.public_dir])
    assert known is not None and len(known) == 10
    with FakeOpenAI() as provider:
        model = passthrough_model("openai/fake", provider.url, max_retries=0)
        with Gateway(model, tmp_path / "calls.jsonl", known_items=known) as gw:
            client = openai.OpenAI(base_url=gw.url, api_key=gw.token, max_retries=0)
            for item in [*sorted(known), "made-up-1", "made-up-2", "made-up-1"]:
                client.chat.completions.create(
                    model="m",
                    messages=[{"role": "user", "content": "x"}],
                    extra_headers={"X-SIA-Item": item},
                )
            usage = gw.usage.as_dict()
    assert usage["items"] == 10 and usage["unknown_items"] == 2 and usage["calls"] == 13
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [c["item_id"] for c in calls if c.get("unknown_item")] == [
        "made-up-1",
        "made-up-2",
        "made-up-1",
    ]
    assert MAX_UNKNOWN_ITEMS == 10_000  # the set of invented ids is bounded


def test_sia_web_answers_loopback_hosts_only_and_hides_private_views(tmp_path: Path) -> None:
    """Before: any Host header was answered (a DNS-rebinding page could read runs), and
    a selection view's data/private/ was served."""
    import http.client
    import threading

    from sia_core.report.web import make_server

    run = tmp_path / "runs" / "run_a"
    (run / "views" / "selection" / "data" / "private").mkdir(parents=True)
    (run / "views" / "selection" / "data" / "public").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": "a", "status": "finished"}))
    (run / "views" / "selection" / "data" / "private" / "answers.csv").write_text("id,a\n1,x\n")
    (run / "views" / "selection" / "data" / "public" / "test.csv").write_text("id\n1\n")
    server = make_server(tmp_path / "runs", "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def get(path: str, host: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers={"Host": host})
        status = conn.getresponse().status
        conn.close()
        return status

    try:
        public = "/runs/run_a/views/selection/data/public/test.csv"
        private = "/runs/run_a/views/selection/data/private/answers.csv"
        assert get(public, f"127.0.0.1:{port}") == 200
        assert get(public, f"localhost:{port}") == 200
        assert get(public, f"[::1]:{port}") == 200
        assert get("/", f"rebind.attacker.example:{port}") == 421
        assert get(public, "rebind.attacker.example") == 421
        assert get(private, f"127.0.0.1:{port}") == 404
        assert get("/runs/run_a/views/selection/data/private/", f"127.0.0.1:{port}") == 404
    finally:
        server.shutdown()
