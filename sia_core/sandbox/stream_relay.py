"""sia's half of the stream relay: the gateway reached from a sandbox that has no network.

A remote sandbox (Modal; equally a docker, ssh or Kubernetes one) runs
sia_core/sandbox/relay_inside.py, which listens on 127.0.0.1:PORT inside and carries each
connection, framed, over the stdin/stdout of that process. This side reads the frames
from the process's stdout, opens one connection to the gateway per channel, and writes
the gateway's answers back into the process's stdin. The transport only has to move
bytes: `read(n)` (up to n bytes, b"" at the end) and `write(data)`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from sia_core.sandbox.relay_inside import CHUNK, CLOSE, DATA, HEADER, OPEN, READY

INSIDE_SCRIPT = Path(__file__).with_name("relay_inside.py")
"""What the sandbox runs: `python -I relay_inside.py PORT`."""
# The frames come from inside the box, where the agent can write to the relay's stdout
# too: a length past what the inside half ever sends ends the relay instead of being
# buffered, and channels beyond the cap are closed at once instead of each costing sia a
# connection and a thread.
MAX_FRAME = 1 << 20
MAX_CHANNELS = 1024


class StreamRelay:
    def __init__(
        self,
        read: Callable[[int], bytes],
        write: Callable[[bytes], None],
        connect: Callable[[], socket.socket],
    ) -> None:
        self._read = read
        self._write = write
        self._connect = connect
        self._write_lock = threading.Lock()
        self._channels: dict[int, socket.socket] = {}
        self._lock = threading.Lock()
        self._buffer = b""
        self.ready = threading.Event()
        """Set once the inside half listens."""
        self.ended = threading.Event()
        """Set when the inside half's stream ended."""
        self.connections = 0
        """Channels opened so far (each an agent's connection to the gateway)."""

    def start(self) -> StreamRelay:
        threading.Thread(target=self._pump_frames, daemon=True, name="sia-relay").start()
        return self

    def close(self) -> None:
        with self._lock:
            sockets = list(self._channels.values())
            self._channels.clear()
        for sock in sockets:
            _close(sock)

    def _send(self, kind: int, channel: int, data: bytes = b"") -> None:
        # A failed write means the sandbox is gone; its channels close with it.
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            self._write(HEADER.pack(kind, channel, len(data)) + data)

    def _exactly(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            data = self._read(max(CHUNK, size - len(self._buffer)))
            if not data:
                return None
            self._buffer += data
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def _pump_frames(self) -> None:
        try:
            while (header := self._exactly(HEADER.size)) is not None:
                kind, channel, length = HEADER.unpack(header)
                if length > MAX_FRAME:
                    break
                data = self._exactly(length) if length else b""
                if data is None:
                    break
                self._frame(kind, channel, data)
        except (OSError, ValueError):
            pass
        finally:
            self.ended.set()
            self.close()

    def _frame(self, kind: int, channel: int, data: bytes) -> None:
        if kind == READY:
            self.ready.set()
        elif kind == OPEN:
            with self._lock:
                refused = channel in self._channels or len(self._channels) >= MAX_CHANNELS
            if refused:
                self._send(CLOSE, channel)
                return
            try:
                sock = self._connect()
            except OSError:
                self._send(CLOSE, channel)
                return
            with self._lock:
                self._channels[channel] = sock
                self.connections += 1
            threading.Thread(
                target=self._pump_socket, args=(channel, sock), daemon=True, name="sia-relay-ch"
            ).start()
        elif kind == DATA:
            sock = self._channels.get(channel)
            if sock is not None:
                try:
                    sock.sendall(data)
                except OSError:
                    self._drop(channel)
        elif kind == CLOSE:
            with self._lock:
                sock = self._channels.pop(channel, None)
            if sock is not None:
                _close(sock)

    def _pump_socket(self, channel: int, sock: socket.socket) -> None:
        try:
            while data := sock.recv(CHUNK):
                self._send(DATA, channel, data)
        except OSError:
            pass
        self._drop(channel)

    def _drop(self, channel: int) -> None:
        with self._lock:
            sock = self._channels.pop(channel, None)
        if sock is not None:
            self._send(CLOSE, channel)
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def gateway_connector(port: int) -> Callable[[], socket.socket]:
    """Connections to the gateway on this machine's loopback."""

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    return connect
