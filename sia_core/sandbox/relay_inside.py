"""The inside half of the stream relay: runs in a remote sandbox as
`python -I relay_inside.py PORT`, standard library only.

It listens on 127.0.0.1:PORT inside the sandbox (where the agent's SIA_BASE_URL points)
and carries every connection over its own stdin/stdout to sia, which connects each one
to the gateway (sia_core.sandbox.stream_relay). The sandbox needs no network at all:
the exec stream that started this process is the only way out.

Frames, both directions: a header (kind: 1 byte, channel: 4 bytes, length: 4 bytes,
big-endian) then `length` bytes. READY (0) once listening; OPEN (1) a new connection;
DATA (2) bytes of a channel; CLOSE (3) the channel is finished.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import struct
import sys

HEADER = struct.Struct(">BII")
READY, OPEN, DATA, CLOSE = 0, 1, 2, 3
BACKLOG = 4096
CHUNK = 1 << 16


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    incoming = asyncio.StreamReader(limit=1 << 22)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(incoming), os.fdopen(0, "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(1, "wb", buffering=0)
    )
    out = asyncio.StreamWriter(transport, protocol, None, loop)
    channels: dict[int, asyncio.StreamWriter] = {}
    numbers = itertools.count(1)

    def send(kind: int, channel: int, data: bytes = b"") -> None:
        out.write(HEADER.pack(kind, channel, len(data)) + data)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = next(numbers)
        channels[channel] = writer
        send(OPEN, channel)
        try:
            while data := await reader.read(CHUNK):
                send(DATA, channel, data)
                await out.drain()
        except ConnectionError:
            pass
        finally:
            if channels.pop(channel, None) is not None:
                send(CLOSE, channel)
                writer.close()

    await asyncio.start_server(serve, "127.0.0.1", port, backlog=BACKLOG)
    send(READY, 0)
    await out.drain()
    while True:
        try:
            header = await incoming.readexactly(HEADER.size)
            kind, channel, length = HEADER.unpack(header)
            data = await incoming.readexactly(length) if length else b""
        except asyncio.IncompleteReadError:
            return  # sia closed the stream: the sandbox is being torn down
        writer = channels.get(channel)
        if writer is None:
            continue
        if kind == DATA:
            writer.write(data)
        elif kind == CLOSE:
            channels.pop(channel, None)
            writer.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
