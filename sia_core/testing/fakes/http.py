"""The plumbing both fake providers share: a threaded HTTP server on 127.0.0.1, a log of
what it was sent, and the failures a test can script (an HTTP status, a provider that
is down, a reply cut off mid-body, a stalled call, a fixed latency)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeProvider:
    path_prefix = ""
    """Appended to the server's root in `url` ("/v1" for OpenAI-style clients)."""
    cut_body = b'{"id": "cut", "obj'
    """A 200 whose JSON stops mid-way: what a garbled reply sends."""

    def __init__(
        self,
        *,
        statuses: list[int] | None = None,
        always: int | None = None,
        garbled: int = 0,
        stalled: int = 0,
        stall_s: float = 5.0,
        latency_s: float = 0.0,
    ) -> None:
        self.statuses = list(statuses or [])
        """HTTP statuses to answer model calls with before answering normally (e.g. [429])."""
        self.always = always
        """Answer every model call with this status (a provider that is down)."""
        self.garbled = garbled
        """Answer this many model calls with a 200 whose body is cut off."""
        self.stalled = stalled
        """Hold this many model calls for `stall_s` seconds before answering."""
        self.stall_s = stall_s
        self.latency_s = latency_s
        self.error_message: str | None = None
        """The message of error answers (a provider that quotes the key it was sent)."""
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.paths.append("GET " + self.path)
                fake.send_json(self, 404, fake.error_body(404, f"no route {self.path}"))

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.paths.append("POST " + self.path)
                if not fake.route(self, body):
                    fake._model_call(self, body)

        # A real provider does not drop connections: a gateway with 256 calls in flight
        # must not meet the default listen backlog of 5.
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 1024})
        self.server = server_class(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path_prefix}"

    def __enter__(self) -> Any:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what a provider decides -----------------------------------------------------

    def route(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> bool:
        """Answer a request that is not a model call; True when it was answered."""
        return False

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        """Send the successful reply to a model call (JSON or a stream)."""
        raise NotImplementedError

    def reply_headers(self) -> dict[str, str]:
        return {}

    # -- shared ------------------------------------------------------------------------

    def send_json(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in self.reply_headers().items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def start_stream(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

    def _model_call(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(handler.headers))
            status = self.always or (self.statuses.pop(0) if self.statuses else 200)
            garble = status == 200 and self.garbled > 0
            if garble:
                self.garbled -= 1
            stall = self.stalled > 0
            if stall:
                self.stalled -= 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            if stall:
                time.sleep(self.stall_s)
            if garble:
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(self.cut_body)))
                handler.end_headers()
                handler.wfile.write(self.cut_body)
            elif status != 200:
                message = self.error_message or f"fake status {status}"
                self.send_json(handler, status, self.error_body(status, message))
            else:
                self.answer(handler, body)
        finally:
            with self._lock:
                self.in_flight -= 1


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
