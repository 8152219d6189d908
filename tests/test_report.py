"""`sia report` and `sia web` on a run made here: the page opens in headless Chromium with
its charts and without console errors, hostile agent output stays text, a live run says
so, and the server serves nothing outside the runs directory."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sia_core.testing.browser import find_chromium, open_page
from sia_core.testing.yes_task import AGENT, EVALUATE, write_tiny_model, write_yes_task
from tests.conftest import sia

pytestmark = pytest.mark.slow

HOSTILE = "<script>console.error('pwned')</script><img src=x onerror=\"console.error('img')\">"
CHARTS = "document.querySelectorAll('figure.chart svg').length"
NAMED_CHARTS = "Array.from(document.querySelectorAll('figure.chart')).map(f => f.dataset.chart)"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generations on the tiny model: the reference harness, a weights generation
    (two training rounds), and a harness whose agent crashes with hostile text."""
    root = tmp_path_factory.mktemp("report")
    task = write_yes_task(root / "yes-task")
    # Items carry groups, as GPQA's domains do.
    evaluate = task / "data" / "public" / "evaluate.py"
    evaluate.write_text(
        EVALUATE.replace(
            '"incorrect"}',
            '"incorrect", "group": "even" if int(i[1:]) % 2 == 0 else "odd"}',
        )
    )
    model = write_tiny_model(root / "tiny-model")
    script = root / "script"
    (script / "gen_2").mkdir(parents=True)
    (script / "gen_2" / "target_agent.py").write_text(AGENT)
    (script / "gen_2" / "decision.json").write_text(
        json.dumps(
            {
                "lever": "weights",
                "algorithm": "entropic",
                "rationale": "train on the rare yes",
                "hyperparameters": {"rollout": {"k": 4, "items": 8, "rounds": 2}},
            }
        )
    )
    (script / "gen_3").mkdir()
    (script / "gen_3" / "target_agent.py").write_text(
        f"# {HOSTILE}\nraise RuntimeError({HOSTILE!r})\n"
    )
    (script / "gen_3" / "improvement.md").write_text(f"# Plan\n{HOSTILE}\n")
    runs = root / "runs"
    result = sia(
        "run", "--task-dir", str(task), "--backend", "scripted", "--backend-opt",
        f"script={script}", "--task-model", str(model), "--lora-lr", "0.01", "--max-gen", "3",
        "--run-id", "r", "--runs-dir", str(runs),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    state = json.loads((runs / "run_r" / "run.json").read_text())
    assert [g["status"] for g in state["generations"]] == ["ok", "ok", "failed"]
    return runs / "run_r"


def chromium() -> str:
    binary = find_chromium()
    # scripts/test.sh installs Debian's chromium; a missing browser is a failure, not a skip.
    assert binary, "no chromium: run scripts/test.sh (it installs it) or set SIA_CHROMIUM"
    return binary


def test_the_browser_check_sees_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><script>console.error('broken'); undefinedCall()</script>")
    report = open_page(page.as_uri(), screenshot=False, binary=chromium())
    assert any("broken" in line for line in report.errors), report.errors
    assert any("undefinedCall" in line for line in report.errors), report.errors


def test_report_opens_offline_in_chromium_with_its_charts(run_dir: Path, tmp_path: Path) -> None:
    result = sia("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    page = run_dir / "report.html"
    assert result.stdout.strip() == f"wrote {page} (3 generations)"
    text = page.read_text()
    # Nothing loads from elsewhere: no source, stylesheet or import names a URL.
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//|<link|@import|url\((?!#)", text)
    report = open_page(
        page.as_uri(),
        {
            "charts": CHARTS,
            "names": NAMED_CHARTS,
            "scripts": "document.scripts.length",
            "images": "document.images.length",
            "text": "document.body.innerText",
        },
        binary=chromium(),
    )
    assert report.errors == []
    names = report.values["names"]
    assert {"scores", "groups", "usage", "rewards", "training"} <= set(names), names
    assert report.values["charts"] == len(names)
    # The agent's script and image arrived as text, not as elements.
    assert report.values["scripts"] == 0 and report.values["images"] == 0
    shown = report.values["text"]
    assert "console.error('pwned')" in shown
    assert "entropic" in shown and "odd" in shown and "even" in shown
    assert "Generation 3" in shown and "failed" in shown
    shot = tmp_path / "report.png"
    shot.write_bytes(report.screenshot or b"")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_report_of_a_run_still_going(run_dir: Path, tmp_path: Path) -> None:
    live = tmp_path / "runs" / "run_live"
    shutil.copytree(run_dir, live)
    state = json.loads((live / "run.json").read_text())
    state.update(status="running", pid=os.getpid())
    (live / "run.json").write_text(json.dumps(state))
    # What the loop leaves while generation 4 is being made: a temporary directory.
    (live / ".tmp-gen_4-abc123").mkdir()
    (live / ".tmp-gen_4-abc123" / "calls.jsonl").write_text('{"cut sho')
    out = tmp_path / "live.html"
    result = sia("report", str(live), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "running; generation 4 in progress" in out.read_text()
    # Its links to the run's files are relative to where the page was written.
    assert 'href="runs/run_live/gen_1/target_agent.py"' in out.read_text()
    # A process that died leaves "running" behind: the page says so.
    state.update(pid=2**22 + 12345)
    (live / "run.json").write_text(json.dumps(state))
    assert sia("report", str(live), "-o", str(out)).returncode == 0
    assert "interrupted" in out.read_text()


def test_report_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    result = sia("report", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = sia("report", "nope", "--runs-dir", str(tmp_path))
    assert result.returncode == 2 and "no run 'nope'" in result.stderr


def _get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    # http.client sends the path exactly as given: no client-side normalisation of '..'.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


@pytest.fixture
def web(run_dir: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(run_dir, runs / "run_r")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the private answers")
    shutil.copytree(run_dir, outside / "run_elsewhere")
    (runs / "run_r" / "gen_1" / "leak.txt").symlink_to(outside / "secret.txt")
    (runs / "run_linked").symlink_to(outside / "run_elsewhere")
    shutil.copytree(run_dir, runs / "run_live")
    state = json.loads((runs / "run_live" / "run.json").read_text())
    state.update(status="running", pid=os.getpid())
    (runs / "run_live" / "run.json").write_text(json.dumps(state))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "sia"), "web", "--runs-dir", str(runs), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    try:
        line = proc.stderr.readline()
        assert "at http://127.0.0.1:" in line, line
        yield int(line.rsplit(":", 1)[1].strip(" /\n"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_web_serves_runs_and_reports(web: int) -> None:
    status, headers, body = _get(web, "/")
    assert status == 200 and b'href="/runs/run_r/"' in body
    assert b"run_linked" not in body  # a link out of the runs directory is not a run here
    status, headers, body = _get(web, "/runs/run_r/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<figure class="chart" data-chart="scores">' in body
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none'
    status, headers, body = _get(web, "/runs/run_r/gen_3/target_agent.py")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert b"console.error('pwned')" in body
    status, _, body = _get(web, "/runs/run_r/gen_2/")
    assert status == 200 and b"adapter/" in body
    report = open_page(
        f"http://127.0.0.1:{web}/runs/run_r/",
        {"charts": CHARTS},
        screenshot=False,
        binary=chromium(),
    )
    assert report.errors == [] and report.values["charts"] >= 4


@pytest.mark.parametrize(
    "path",
    [
        "/runs/run_r/../../outside/secret.txt",
        "/runs/run_r/gen_1/../../../outside/secret.txt",
        "/runs/%2e%2e/outside/secret.txt",
        "/runs/run_r/%2e%2e/%2e%2e/outside/secret.txt",
        "/runs/run_r/..%2f..%2foutside%2fsecret.txt",
        "/runs//etc/passwd",
        "/runs/run_r//etc/passwd",
        "/runs/run_r/%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/etc/passwd",
        "/runs/run_r/gen_1/leak.txt",
        "/runs/run_linked/",
        "/runs/run_linked/gen_1/target_agent.py",
        "/runs/run_r/gen_1/target_agent.py/",
        "/runs/nope/",
    ],
)
def test_web_answers_404_outside_the_runs_directory(web: int, path: str) -> None:
    status, _, body = _get(web, path)
    assert status == 404, (path, body[:200])
    assert b"private answers" not in body and b"root:" not in body


def test_agent_written_files_are_served_as_text_never_as_pages(web: int, tmp_path: Path) -> None:
    # What a harness can leave in its generation directory: any name sia does not reserve.
    gen = tmp_path / "runs" / "run_r" / "gen_1"
    (gen / "evil.html").write_text("<script>fetch('/runs/run_r/')</script>")
    (gen / "evil.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>')
    odd = '"><img src=x onerror=alert(1)>.txt'
    (gen / odd).write_text("x")
    for name in ("evil.html", "evil.svg"):
        status, headers, body = _get(web, f"/runs/run_r/gen_1/{name}")
        assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    status, _, body = _get(web, "/runs/run_r/gen_1/")
    assert status == 200 and b"<img" not in body
    assert b"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.txt" in body
    assert b'href="%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt"' in body
    # The relative link leads back to the file.
    status, _, body = _get(
        web, "/runs/run_r/gen_1/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt"
    )
    assert status == 200 and body == b"x"
    # A browser opening the listing meets no script and no error.
    report = open_page(
        f"http://127.0.0.1:{web}/runs/run_r/gen_1/",
        {"images": "document.images.length", "scripts": "document.scripts.length"},
        screenshot=False,
        binary=chromium(),
    )
    assert report.errors == [] and report.values == {"images": 0, "scripts": 0}


def test_web_is_read_only(web: int) -> None:
    for method in ("POST", "PUT", "DELETE"):
        status, _, _ = _get(web, "/runs/run_r/", method)
        assert status == 405


def test_web_refuses_a_missing_runs_dir(tmp_path: Path) -> None:
    result = sia("web", "--runs-dir", str(tmp_path / "none"))
    assert result.returncode == 2
    assert "no such directory" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_web_refreshes_while_a_run_is_in_progress(web: int) -> None:
    refresh = b'<meta http-equiv="refresh" content="5">'
    for path in ("/", "/runs/run_live/"):
        status, _, body = _get(web, path)
        assert status == 200 and refresh in body, path
    status, _, body = _get(web, "/runs/run_r/")
    assert status == 200 and refresh not in body  # a finished run's page stays put


def test_labels_from_the_run_are_text_in_the_charts(tmp_path: Path) -> None:
    # Group names come from the evaluator's results.json and the metric from task.toml:
    # a "$" must not start a formula (matplotlib would fail to parse "$\frac{1$") and markup
    # must stay escaped in the inline SVG.
    from sia_core.generation_record import GenerationRecord
    from sia_core.report import charts as report_charts
    from sia_core.report.run_view import GenerationView, RunView

    hostile = {"$\\frac{1$": (0.5, 3), "<script>alert(1)</script>": (0.25, 4)}
    gens = [
        GenerationView(
            record=GenerationRecord(number=n, started=0, status="ok", score=0.5),
            dir=tmp_path,
            groups=hostile,
        )
        for n in (1, 2)
    ]
    state = {"task": {"metric": "cost in $ ($x^$)", "direction": "min"}}
    view = RunView(tmp_path, state, gens, in_progress=None, live=False)
    for svg in (report_charts.groups(view), report_charts.scores(view)):
        assert svg is not None and "<script" not in svg
    groups = report_charts.groups(view)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in groups and "$\\frac{1$" in groups
    assert "cost in $ ($x^$)" in report_charts.scores(view)


def test_failures_are_items_below_the_full_reward_not_below_the_generations_best() -> None:
    from sia_core.report.run_view import SAMPLE_FAILURES, Trajectory, _sample

    def items(rewards: list[float], status: str = "incorrect") -> list[Trajectory]:
        return [Trajectory(f"i{k}", status, r, None, []) for k, r in enumerate(rewards)]

    # every item failed: all 80 are failures, none drawn as a success
    sample, failures = _sample(items([0.0] * 80))
    assert failures == 80 and len(sample) == SAMPLE_FAILURES
    sample, failures = _sample(items([1.0, 0.0, 0.5]))
    assert failures == 2  # the 0.5 item is below the full reward, not a success
    # graded rewards without a ceiling (minus an error): below the best one seen
    sample, failures = _sample(items([-1.0, -3.0, -2.0], status="scored"))
    assert failures == 2


def test_a_score_is_never_cut_on_a_narrow_terminal_or_in_a_pipe() -> None:
    import io

    from rich.console import Console

    from sia_core.report.tables import Rows, output_console, print_rows

    table = Rows(
        "run 20261202-101010 · sentiment · accuracy",
        ("gen", "status", "lever", "selection", "test", "incumbent", "tokens", "cost $"),
        [("2", "ok", "weights (entropic)", "0.9876", "0.9712", "yes", "123456", "local")],
    )
    for width in (40, 60, 80):
        out = io.StringIO()
        print_rows(Console(file=out, width=width, force_terminal=True), table)
        text = out.getvalue()
        assert "0.9876" in text and "0.9712" in text and "weights (entropic)" in text
        assert "…" not in text, text
    out = io.StringIO()
    print_rows(Console(file=out, width=200), table)
    assert "┃ selection ┃" in out.getvalue() or "selection" in out.getvalue().splitlines()[1]
    assert not output_console().is_terminal and output_console().width >= 1000  # piped
