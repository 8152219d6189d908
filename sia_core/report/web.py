"""`sia web`: a read-only server over a runs directory. It shows agent code and
trajectories, so it binds to 127.0.0.1 by default and serves nothing outside the runs
directory: a path with `..`, an empty or absolute part, or a symbolic link anywhere in it
is answered 404, and agent-written files go out as plain text, never as HTML.
"""

from __future__ import annotations

import html
import ipaddress
import json
import mimetypes
import os
import shutil
import stat
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from sia_core.errors import SiaError
from sia_core.loop.run_dir import RunDir, list_runs
from sia_core.report.html import CSP, STYLE

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
REFRESH_S = 5
"""How often a page about a live run reloads itself."""
PLAIN = frozenset({".py", ".md", ".log", ".csv", ".txt", ".toml", ".html", ".svg"})
TEXT_TYPES = {".json": "application/json", ".jsonl": "application/x-ndjson"}


def confined(root: Path, parts: list[str]) -> Path | None:
    """`root`/parts if every step is a real entry below `root` (no links, no `..`)."""
    path = root
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\\" in part or "\0" in part:
            return None
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            return None
    return path


def _runs_page(runs_dir: Path) -> tuple[str, bool]:
    rows, live = [], False
    # A run directory that is a link points out of the runs directory: not served.
    for path, state in list_runs(runs_dir, follow_links=False):
        best = state.get("best") or {}
        live = live or state.get("status") == "running"

        def num(v: object) -> str:
            return f"{v:.4f}" if isinstance(v, (int, float)) else "-"

        cells = [
            f'<a href="/runs/{quote(path.name)}/">{html.escape(path.name)}</a>',
            html.escape(str(state.get("task", {}).get("name", "?"))),
            html.escape(str(state.get("status", "?"))),
            str(len(state.get("generations", []))),
            html.escape(str(best.get("generation", "-"))),
            num(best.get("selection_score")),
            num(best.get("test_score")),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(float(state.get("created") or 0))),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(
        f"<th>{h}</th>"
        for h in ("run", "task", "status", "generations", "best gen", "selection", "test", "made")
    )
    body = (
        f"<table><tr>{header}</tr>{''.join(rows)}</table>"
        if rows
        else f"<p>No runs in {html.escape(str(runs_dir))} yet: <code>sia run</code> makes one.</p>"
    )
    body += _ablations(runs_dir)
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        + (f'<meta http-equiv="refresh" content="{REFRESH_S}">' if live else "")
        + f"<title>sia runs</title><style>{STYLE}</style></head><body>"
        f"<h1>sia runs</h1><p class=sub>{html.escape(str(runs_dir))}</p>{body}</body></html>"
    )
    return page, live


def _ablations(runs_dir: Path) -> str:
    """The ablations (`sia ablate`) in the runs directory, each linked to its page."""
    rows = []
    for path in sorted(runs_dir.glob("ablation_*")) if runs_dir.is_dir() else []:
        if path.is_symlink() or not (path / "ablation.json").is_file():
            continue
        try:
            record = json.loads((path / "ablation.json").read_text(encoding="utf-8"))
            config = record["config"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        task = config.get("task") or config.get("task_dir")
        done = "table ready" if record.get("table") else "running or interrupted"
        cells = [
            f'<a href="/ablations/{quote(path.name)}/">{html.escape(path.name)}</a>',
            html.escape(str(task)),
            html.escape(" ".join(map(str, config.get("seeds") or []))),
            html.escape(str(config.get("max_gen"))),
            done,
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    header = "".join(f"<th>{h}</th>" for h in ("ablation", "task", "seeds", "max gen", "state"))
    return f"<h2>Ablations</h2><table><tr>{header}</tr>{''.join(rows)}</table>"


def _listing(path: Path, url: str) -> str:
    entries = []
    for child in sorted(path.iterdir()):
        if child.is_symlink():
            continue
        name = child.name + ("/" if child.is_dir() else "")
        # Relative to this directory's URL (it ends in "/"): the name is quoted once.
        entries.append(f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>')
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{html.escape(url)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(url)}</h1><ul>{''.join(entries)}</ul></body></html>"
    )


def content_type(path: Path) -> str:
    """JSON as JSON, anything textual as plain text: agent-written HTML or SVG must never
    run as a page of this origin."""
    if path.suffix in TEXT_TYPES:
        return TEXT_TYPES[path.suffix] + "; charset=utf-8"
    guess = mimetypes.guess_type(path.name)[0] or ""
    if guess.startswith("text/") or path.suffix in PLAIN or guess.endswith(("+xml", "/xml")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


class Handler(BaseHTTPRequestHandler):
    server_version = "sia-web"
    runs_dir: Path
    bound_host: str = "127.0.0.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the terminal shows the URL; a line per request would bury it

    def _head(self, code: int, length: int, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def _send(self, code: int, body: bytes, content_type: str, head_only: bool = False) -> None:
        self._head(code, len(body), content_type)
        if not head_only:
            self.wfile.write(body)

    def _send_file(self, path: Path, head_only: bool) -> None:
        # Streamed: an agent's output can be as large as its sandbox let it write.
        with path.open("rb") as fh:
            self._head(HTTPStatus.OK, os.fstat(fh.fileno()).st_size, content_type(path))
            if not head_only:
                shutil.copyfileobj(fh, self.wfile)

    def _not_found(self, head_only: bool) -> None:
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head_only)

    def do_HEAD(self) -> None:
        self._serve(head_only=True)

    def do_GET(self) -> None:
        self._serve(head_only=False)

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only\n", "text/plain; charset=utf-8")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _host_allowed(self) -> bool:
        """A loopback name, an address literal, or the name the server was bound to: a
        page on another site that rebinds its own name to 127.0.0.1 sends its own name
        as Host, and is refused, so it cannot read runs through the user's browser."""
        host = self.headers.get("Host", "")
        name = urlsplit(f"//{host}").hostname or ""
        if name in LOOPBACK_NAMES or name == self.bound_host:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def _serve(self, head_only: bool) -> None:
        if not self._host_allowed():
            self._send(
                HTTPStatus.MISDIRECTED_REQUEST,
                b"unknown Host: sia web answers loopback names and addresses only\n",
                "text/plain; charset=utf-8",
                head_only,
            )
            return
        raw = urlsplit(self.path).path
        if raw in ("", "/"):
            page, _ = _runs_page(self.runs_dir)
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", head_only)
            return
        parts = [unquote(p) for p in raw.split("/")[1:]]
        if len(parts) >= 3 and parts[0] == "ablations":
            self._ablation(parts[1:], head_only)
            return
        if len(parts) < 3 or parts[0] != "runs":
            self._not_found(head_only)
            return
        self._run(self.runs_dir, parts[1:], "/runs/", raw, head_only)

    def _ablation(self, parts: list[str], head_only: bool) -> None:
        """/ablations/NAME/ is the ablation's page; /ablations/NAME/runs/RUN/... its runs,
        served as any run is."""
        from sia_core.report import ablation_html

        root = confined(self.runs_dir, parts[:1])
        if root is None or not (root / "ablation.json").is_file():
            self._not_found(head_only)
            return
        prefix = f"/ablations/{quote(root.name)}/runs/"
        if parts[1:] == [""]:
            record = ablation_html.read(root)
            page = ablation_html.render(
                root, lambda rid: f"{prefix}run_{quote(rid)}/",
                ablation_html.metric_of(root, record),
            )  # fmt: skip
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", head_only)
        elif len(parts) >= 4 and parts[1] == "runs":
            self._run(root, parts[2:], prefix, self.path, head_only)
        else:
            self._not_found(head_only)

    def _run(self, base: Path, parts: list[str], prefix: str, raw: str, head_only: bool) -> None:
        """parts: RUN, then a path in it ("" for its page); `prefix`: URL of `base`."""
        run = confined(base, parts[:1])
        if run is None or not RunDir(run).exists():
            self._not_found(head_only)
            return
        rest = parts[1:]
        if any(a == "data" and b == "private" for a, b in zip(rest, rest[1:], strict=False)):
            self._not_found(head_only)  # a selection view's answers
            return
        if rest == [""]:
            self._report(run, prefix, head_only)
            return
        trailing = rest[-1] == ""
        path = confined(run, rest[:-1] if trailing else rest)
        if path is None:
            self._not_found(head_only)
        elif path.is_dir() and trailing:
            page = _listing(path, raw).encode()
            self._send(HTTPStatus.OK, page, "text/html; charset=utf-8", head_only)
        elif path.is_file() and not trailing:
            self._send_file(path, head_only)
        else:
            self._not_found(head_only)

    def _report(self, run: Path, prefix: str, head_only: bool) -> None:
        from sia_core.report import html as report_html
        from sia_core.report import run_view

        try:
            view = run_view.load(run)
        except (SiaError, ValueError, OSError) as exc:
            message = f"could not read this run: {exc}\n".encode()
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, message, "text/plain; charset=utf-8")
            return
        page = report_html.render(
            view,
            link_base=f"{prefix}{quote(run.name)}/",
            refresh_s=REFRESH_S if view.state.get("status") == "running" else None,
        )
        self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", head_only)


def make_server(runs_dir: Path, host: str, port: int) -> ThreadingHTTPServer:
    root = runs_dir.expanduser().resolve()
    if not root.is_dir():
        raise SiaError(f"{runs_dir}: no such directory; give the one `sia run` wrote to")
    handler = type("SiaHandler", (Handler,), {"runs_dir": root, "bound_host": host})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise SiaError(f"cannot listen on {host}:{port}: {exc.strerror}; try --port") from None
    server.daemon_threads = True
    return server
