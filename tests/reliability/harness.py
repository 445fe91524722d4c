"""A bounded load harness for real PayDock servers on loopback.

`run_load(base_url, scenario, clients=..., max_seconds=..., max_requests=...)` runs
`clients` threads, each calling `scenario(client, worker, iteration)` in a loop until
the time or the request budget is used up. The scenario makes its requests through
`client` (a LoadClient), which counts every response by status and operation and
every transport error, so that afterwards a test can assert "zero 5xx" and run
invariant checks over the database. It refuses any host but 127.0.0.1/localhost and
always stops by itself.

Invariant checkers are plain functions `check(report) -> list[str]` (one message per
violation) passed to `report.violations(...)`; scenarios for other resources (invoices,
payments) plug in the same way.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class BudgetExhausted(Exception):
    """The run's request budget or time is used up; the scenario step stops here."""


@dataclass
class LoadReport:
    """What a run did: responses by status and by operation, transport errors, notes."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_operation: Counter = field(default_factory=Counter)
    transport_errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    #: Free-form facts the scenario records for the invariant checkers (e.g. created ids).
    notes: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def note(self, key: str, value) -> None:
        """Append `value` to the list `notes[key]` (thread-safe)."""
        with self._lock:
            self.notes.setdefault(key, []).append(value)

    def violations(self, *checks: Callable[[LoadReport], list[str]]) -> list[str]:
        """Every message from every invariant check; empty when all hold."""
        found: list[str] = []
        for check in checks:
            found.extend(check(self))
        return found

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        errors = ", ".join(f"{e}: {n}" for e, n in sorted(self.transport_errors.items())) or "none"
        return (f"{self.requests} requests in {self.seconds:.1f} s; statuses {statuses}; "
                f"transport errors {errors}")


class LoadClient:
    """One client thread's HTTP client; counts everything it sends into the shared report."""

    def __init__(self, base_url: str, headers: dict[str, str], run: _Run, timeout: float) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.run = run

    def request(self, method: str, path: str, *, operation: str | None = None,
                **kwargs) -> httpx.Response | None:
        """Send one request (None on a transport error, which is counted). Raises
        BudgetExhausted when the run's time or request budget is used up."""
        self.run.take_one()
        report = self.run.report
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            with report._lock:
                report.transport_errors[type(exc).__name__] += 1
            return None
        with report._lock:
            report.statuses[response.status_code] += 1
            report.by_operation[(operation or f"{method} {path}", response.status_code)] += 1
        return response

    @property
    def report(self) -> LoadReport:
        return self.run.report

    def post(self, path: str, json=None, *, idempotency_key: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return self.request("POST", path, json=json, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        self.http.close()


class _Run:
    def __init__(self, max_seconds: float, max_requests: int) -> None:
        self.deadline = time.monotonic() + max_seconds
        self.remaining = max_requests
        self.lock = threading.Lock()
        self.report = LoadReport()

    def take_one(self) -> None:
        with self.lock:
            if self.remaining <= 0 or time.monotonic() >= self.deadline:
                raise BudgetExhausted
            self.remaining -= 1
            self.report.requests += 1


def assert_loopback(base_url: str) -> None:
    host = urlparse(base_url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"load runs only against loopback, not {host!r}")


Scenario = Callable[[LoadClient, int, int], None]


def run_load(base_url: str, scenario: Scenario, *, headers: dict[str, str] | None = None,
             clients: int = 8, max_seconds: float = 10.0, max_requests: int = 1000,
             request_timeout: float = 30.0) -> LoadReport:
    """Run `scenario` in `clients` threads until `max_seconds` or `max_requests` is reached."""
    assert_loopback(base_url)
    run = _Run(max_seconds, max_requests)
    started = time.monotonic()
    failures: list[BaseException] = []

    def worker(number: int) -> None:
        client = LoadClient(base_url, headers or {}, run, request_timeout)
        iteration = 0
        try:
            while True:
                scenario(client, number, iteration)
                iteration += 1
        except BudgetExhausted:
            pass
        except BaseException as exc:  # a bug in the scenario must fail the test, not vanish
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Each request is bounded by request_timeout, so this join is bounded too.
        thread.join(max_seconds + 2 * request_timeout + 10)
    run.report.seconds = time.monotonic() - started
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("load clients did not stop within their bound")
    if failures:
        raise failures[0]
    return run.report


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return str(uuid.uuid4())
