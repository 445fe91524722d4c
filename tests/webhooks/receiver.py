"""A webhook receiver on 127.0.0.1 for the tests: records every request as it arrives (with the
time and how many requests to its path were then in flight), answers a plan."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.openapi_check import event_mismatches


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: time.time() when the request had arrived (before any delay).
    at: float = 0.0
    #: Requests to this path in flight when this one arrived, itself included.
    in_flight: int = 1
    #: The client's (address, port): one per TCP connection.
    peer: tuple = ()

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def attempt(self) -> int:
        return int(self.headers["paydock-delivery-attempt"])


class Receiver:
    """`statuses` are answered in turn (then `default_status`), each a status or a (status,
    headers) pair; `delay` slows every answer; `hang` holds every answer until `release()`."""

    def __init__(self, default_status: int = 200, delay: float = 0.0, hang: bool = False) -> None:
        self.default_status = default_status
        self.delay = delay
        self.hang = hang
        self.released = threading.Event()
        self.statuses: deque[int | tuple[int, dict[str, str]]] = deque()
        self.requests: list[Received] = []
        self.in_flight: dict[str, int] = {}
        #: The most requests in flight at once, per path and in all.
        self.max_in_flight: dict[str, int] = {}
        self.max_in_flight_total = 0
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are separate writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every answer on a kept-alive connection.
            disable_nagle_algorithm = True

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.time()
                with receiver._changed:
                    planned = receiver.statuses.popleft() if receiver.statuses else receiver.default_status
                    now_in_flight = receiver.in_flight.get(self.path, 0) + 1
                    receiver.in_flight[self.path] = now_in_flight
                    receiver.max_in_flight[self.path] = max(receiver.max_in_flight.get(self.path, 0),
                                                            now_in_flight)
                    receiver.max_in_flight_total = max(receiver.max_in_flight_total,
                                                       sum(receiver.in_flight.values()))
                    receiver.requests.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body, arrived,
                        now_in_flight, tuple(self.client_address)))
                    receiver._changed.notify_all()
                answering = False

                def done() -> None:
                    # Before the answer goes out: the client may send its next request as soon
                    # as it has the answer, and that one must not count this one as in flight.
                    with receiver._changed:
                        receiver.in_flight[self.path] -= 1
                        receiver._changed.notify_all()

                try:
                    status, extra = planned if isinstance(planned, tuple) else (planned, {})
                    if receiver.hang:
                        receiver.released.wait(120)
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    answering = True
                    done()
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up (its timeout)
                finally:
                    if not answering:
                        done()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        if exc[0] is None:
            self.check_bodies()

    def check_bodies(self) -> None:
        """Every body received validates against its event type's schema in openapi.yaml's
        `x-event-payloads` (tests/openapi_check.py); the receiver checks this when it stops."""
        wrong = {received.webhook_id: errors for received in self.requests
                 if (errors := event_mismatches(received.body))}
        assert not wrong, f"webhook bodies that do not match openapi.yaml's x-event-payloads: {wrong}"

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def answer(self, *statuses: int | tuple[int, dict[str, str]]) -> None:
        self.statuses.extend(statuses)

    def release(self) -> None:
        """Answer the held requests, and every later one at once."""
        self.hang = False
        self.released.set()

    def wait_for(self, predicate, timeout: float = 60.0) -> bool:
        """Wait (bounded) until `predicate(requests)` holds; returns whether it did."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.requests):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True
