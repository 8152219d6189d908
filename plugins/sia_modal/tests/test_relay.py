"""The stream relay on its own, over a plain subprocess speaking the stdio protocol: 100
model calls at once carried from the inside listener to the gateway and back."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time

import aiohttp

from sia_core.gateway.server import Gateway
from sia_core.sandbox.stream_relay import INSIDE_SCRIPT, StreamRelay, gateway_connector
from sia_core.testing.sandbox_checks import EchoModel


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def calls(url: str, token: str, count: int) -> list[tuple[int, str]]:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int) -> tuple[int, str]:
            body = {"messages": [{"role": "user", "content": f"question {i}"}]}
            async with session.post(
                f"{url}/chat/completions", json=body, headers={"X-SIA-Item": f"i{i}"}
            ) as response:
                payload = await response.json()
                return response.status, payload["choices"][0]["message"]["content"]

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_relay_carries_100_concurrent_calls_to_the_gateway(tmp_path) -> None:
    port = free_port()
    inside = subprocess.Popen(
        [sys.executable, "-I", str(INSIDE_SCRIPT), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    assert inside.stdin is not None and inside.stdout is not None
    log = tmp_path / "calls.jsonl"
    try:
        with Gateway(EchoModel(latency_s=0.3), log, concurrency=100) as gateway:
            relay = StreamRelay(
                inside.stdout.read, inside.stdin.write, gateway_connector(gateway.port)
            ).start()
            assert relay.ready.wait(30)
            answers = asyncio.run(calls(f"http://127.0.0.1:{port}/v1", gateway.token, 100))
            relay.close()
    finally:
        inside.kill()
        inside.wait()
    assert answers == [(200, f"question {i}") for i in range(100)]
    assert relay.connections == 100  # one channel per connection, all at once
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(r["item_id"] for r in records) == sorted(f"i{i}" for i in range(100))
    assert {r["status"] for r in records} == {"ok"}
    # 0.3 s each, 100 at once: concurrent, not one after another.
    assert max(r["queue_s"] for r in records) < 0.3


def test_a_dead_inside_half_ends_the_relay() -> None:
    inside = subprocess.Popen(
        [sys.executable, "-I", str(INSIDE_SCRIPT), str(free_port())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    assert inside.stdin is not None and inside.stdout is not None
    relay = StreamRelay(inside.stdout.read, inside.stdin.write, gateway_connector(9)).start()
    assert relay.ready.wait(30)
    inside.kill()
    inside.wait()
    assert relay.ended.wait(10)


# What a hostile agent can write into the relay's stdout (it shares the box, and the
# pipe is reachable through /proc): frames of its own making.
FORGED = """
import os, struct, sys, time
header = struct.Struct(">BII")
out = os.fdopen(1, "wb", buffering=0)
out.write(header.pack(0, 0, 0))  # READY
if sys.argv[1] == "huge":
    out.write(header.pack(2, 1, 1 << 31))  # DATA of 2 GiB, never sent
    time.sleep(30)
else:
    for channel in range(1, 3001):  # OPEN, far past any agent's need
        out.write(header.pack(1, channel, 0))
    time.sleep(30)
"""


def forged(kind: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", FORGED, kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


def test_a_forged_frame_length_ends_the_relay_without_buffering_it() -> None:
    from sia_core.sandbox.stream_relay import MAX_FRAME

    inside = forged("huge")
    assert inside.stdout is not None and inside.stdin is not None
    read_sizes: list[int] = []

    def read(size: int) -> bytes:
        read_sizes.append(size)
        return inside.stdout.read1(size)  # type: ignore[union-attr]

    relay = StreamRelay(read, inside.stdin.write, gateway_connector(9)).start()
    try:
        assert relay.ready.wait(10)
        assert relay.ended.wait(10)  # long before 2 GiB could arrive
        assert max(read_sizes) <= MAX_FRAME
    finally:
        inside.kill()
        inside.wait()


def test_forged_opens_cost_at_most_the_channel_cap(tmp_path) -> None:
    from sia_core.sandbox.stream_relay import MAX_CHANNELS

    inside = forged("opens")
    assert inside.stdout is not None and inside.stdin is not None
    accepted: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0), backlog=4096)

    def connect() -> socket.socket:
        sock = socket.create_connection(server.getsockname())
        accepted.append(sock)
        return sock

    relay = StreamRelay(inside.stdout.read1, inside.stdin.write, connect).start()
    try:
        assert relay.ready.wait(10)
        deadline = time.monotonic() + 20
        while relay.connections < MAX_CHANNELS and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the other 1,976 OPENs arrive and are refused
        assert relay.connections == MAX_CHANNELS == len(accepted)
    finally:
        relay.close()
        server.close()
        inside.kill()
        inside.wait()
