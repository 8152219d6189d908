"""The stream relay on its own, over a plain subprocess speaking the stdio protocol: 100
model calls at once carried from the inside listener to the gateway and back."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import aiohttp

from sia_core.gateway import Gateway
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
