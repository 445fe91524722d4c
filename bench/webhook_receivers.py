"""Webhook receivers for the delivery benchmark: one process, one asyncio loop, many ports.

    python bench/webhook_receivers.py OUT_FILE PORT[:DELAY] ...

Each port answers every POST with 200, at once or after DELAY seconds (without blocking the
others), and records `port webhook-id arrival-time` per request. On SIGTERM it writes the
records to OUT_FILE and exits. Kept minimal (no HTTP framework) so that the receivers cost
the shared machine as little as possible next to the workers being measured.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Receiver(asyncio.Protocol):
    def __init__(self, port: int, delay: float, records: list) -> None:
        self.port, self.delay, self.records = port, delay, records
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length, webhook_id = 0, ""
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    webhook_id = value.strip().decode()
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.records.append((self.port, webhook_id, time.time()))
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self._answer)
            else:
                self._answer()

    def _answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(ANSWER)


async def serve(out: str, ports: list[tuple[int, float]]) -> None:
    loop = asyncio.get_running_loop()
    records: list = []
    for port, delay in ports:
        await loop.create_server(lambda p=port, d=delay: Receiver(p, d, records), "127.0.0.1", port)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    with open(out, "w") as f:
        f.writelines(f"{port} {webhook_id} {at:.6f}\n" for port, webhook_id, at in records)


def main(argv: list[str]) -> None:
    ports = []
    for spec in argv[1:]:
        port, _, delay = spec.partition(":")
        ports.append((int(port), float(delay or 0)))
    asyncio.run(serve(argv[0], ports))


if __name__ == "__main__":
    main(sys.argv[1:])
