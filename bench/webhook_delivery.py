"""Webhook delivery at scale: throughput and latency of `paydock worker` on PostgreSQL.

    python -m bench.webhook_delivery              # measure, then update bench/RESULTS.md
    python -m bench.webhook_delivery --output -   # print the section instead

One administration with 20 endpoints (fast receivers on loopback, bench/webhook_receivers.py),
each subscribed to every event, and 2 `paydock worker` processes with default settings:

1. throughput: 500 events (10,000 deliveries) written before the workers start; deliveries
   per second from the first request received to the last;
2. latency: the workers running, 500 more events written at 25 a second (500 deliveries a
   second); event written (its `created_at`) → request received, p50/p95/max;
3. the same with a 21st endpoint whose receiver answers after 1 s: the fast receivers' latency.

Every delivery of phases 1 and 2 is checked in the database (delivered, one attempt) and
counted at the receivers (each `webhook-id` once). `python bench/run.py` runs it too.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import peewee  # noqa: E402
import psutil  # noqa: E402

from models import contacts, db, tenancy  # noqa: E402
from models.events import Event  # noqa: E402
from models.migrations import migrate  # noqa: E402
from models.webhooks import WebhookDelivery, WebhookEndpoint  # noqa: E402
from tests.pgserver import PostgresServer  # noqa: E402
from tests.server import free_port  # noqa: E402
from webhooks.signing import new_secret  # noqa: E402

ENDPOINTS = 20
EVENTS = 500  # x 20 endpoints = 10,000 deliveries per phase
WORKERS = 2
LATENCY_RATE = 25  # events per second in the latency phases
SLOW_SECONDS = 1.0
TARGET_PER_SECOND = 1_000
SECTION = "## Webhook delivery"


def _settings_env(database_url: str) -> dict:
    return {**os.environ, "PAYDOCK_DATABASE_URL": database_url, "PAYDOCK_LOG_LEVEL": "WARNING",
            "PAYDOCK_WEBHOOK_ALLOW_PRIVATE": "true", "PAYDOCK_WEBHOOK_ALLOW_HTTP": "true"}


def _say(message: str) -> None:
    print(f"bench webhooks: {message}", file=sys.stderr, flush=True)


class Receivers:
    """bench/webhook_receivers.py in a process of its own."""

    def __init__(self, ports: list[tuple[int, float]], workdir: Path) -> None:
        self.out = workdir / f"received-{uuid.uuid4().hex[:8]}.txt"
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "webhook_receivers.py"), str(self.out),
             *(f"{port}:{delay}" for port, delay in ports)],
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the webhook receivers did not start")

    def stop(self) -> list[tuple[int, str, float]]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        records = []
        for line in self.out.read_text().splitlines():
            port, webhook_id, at = line.split()
            records.append((int(port), webhook_id, float(at)))
        return records


def _loopback_endpoint(administration_id, port: int) -> WebhookEndpoint:
    """An endpoint on a loopback receiver (stored directly: the API refuses loopback URLs by
    default, and the workers are started with PAYDOCK_WEBHOOK_ALLOW_PRIVATE)."""
    return WebhookEndpoint.create(administration=administration_id, url=f"http://127.0.0.1:{port}/hook",
                                  secret=new_secret())


def _write_events(administration_id, count: int, rate: float | None, tag: str) -> None:
    """`count` contact.created events, as fast as possible or paced at `rate` a second."""
    start = time.monotonic()
    with db.database.connection_context():
        for i in range(count):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            with db.database.atomic():
                contacts.create_contact(administration_id, {"name": f"{tag} {i:05}"})


def _delivered(endpoint_ids, since_seq: int) -> Counter:
    with db.database.connection_context():
        query = (WebhookDelivery.select(WebhookDelivery.status, WebhookDelivery.attempts)
                 .join(Event).where(WebhookDelivery.endpoint.in_(endpoint_ids), Event.seq > since_seq))
        return Counter((d.status, d.attempts) for d in query)


def _wait_delivered(endpoint_ids, since_seq: int, wanted: int, timeout: float) -> Counter:
    deadline = time.monotonic() + timeout
    while True:
        counts = _delivered(endpoint_ids, since_seq)
        if sum(n for (status, _), n in counts.items() if status == "delivered") >= wanted:
            return counts
        if time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def _max_seq() -> int:
    with db.database.connection_context():
        return Event.select(peewee.fn.COALESCE(peewee.fn.MAX(Event.seq), 0)).scalar()


def _latencies(records, ports: set[int]) -> list[float]:
    """Seconds from each event's `created_at` to its request's arrival, for these ports."""
    chosen = [(webhook_id, at) for port, webhook_id, at in records if port in ports]
    ids = [uuid.UUID(hex=webhook_id.removeprefix("msg_")) for webhook_id, _ in chosen]
    written: dict[str, float] = {}
    with db.database.connection_context():
        for start in range(0, len(ids), 1000):
            rows = (WebhookDelivery.select(WebhookDelivery.id, Event.created_at).join(Event)
                    .where(WebhookDelivery.id.in_(ids[start:start + 1000])).tuples())
            for delivery_id, created in rows:
                written[f"msg_{delivery_id.hex}"] = created.replace(tzinfo=UTC).timestamp()
    return [at - written[webhook_id] for webhook_id, at in chosen]


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _tail(path: Path, size: int = 500) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"count": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(statistics.quantiles(ordered, n=20)[-1] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


def measure(database_url: str, workdir: Path) -> dict:
    """Run the three phases against an empty-enough database at `database_url`."""
    env = _settings_env(database_url)
    fast_ports = [free_port() for _ in range(ENDPOINTS)]
    slow_port = free_port()
    receivers = Receivers([(p, 0.0) for p in fast_ports] + [(slow_port, SLOW_SECONDS)], workdir)
    workers: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        with db.database.connection_context():
            administration = tenancy.create_administration("Webhook bench")
            endpoints = [_loopback_endpoint(administration.id, port) for port in fast_ports]
        endpoint_ids = [e.id for e in endpoints]

        # 1. Throughput from a backlog.
        since = _max_seq()
        _say(f"writing {EVENTS} events for {ENDPOINTS} endpoints")
        _write_events(administration.id, EVENTS, None, "backlog")
        _say(f"starting {WORKERS} workers")
        started = time.time()
        # Each worker logs to a file: a pipe read only at the end fills up and would block a
        # worker mid-delivery, holding its lease (another worker would then send it again).
        logs = [workdir / f"worker-{n}.log" for n in range(WORKERS)]
        workers = []
        for log_path in logs:
            with open(log_path, "wb") as log_file:
                workers.append(subprocess.Popen([sys.executable, "-m", "paydock.cli", "worker"], cwd=ROOT,
                                                env=env, stdout=subprocess.DEVNULL, stderr=log_file))
        wanted = EVENTS * ENDPOINTS
        throughput_check = _wait_delivered(endpoint_ids, since, wanted, timeout=600)
        all_delivered = time.time()
        worker_cpu = sum(_cpu_seconds(w.pid) for w in workers)
        receiver_cpu = _cpu_seconds(receivers.process.pid)

        # 2. Latency at a steady rate.
        since_latency = _max_seq()
        _say(f"latency: {EVENTS} events at {LATENCY_RATE}/s")
        latency_started = time.time()
        _write_events(administration.id, EVENTS, LATENCY_RATE, "steady")
        latency_check = _wait_delivered(endpoint_ids, since_latency, wanted, timeout=600)

        # 3. The same beside a slow receiver.
        with db.database.connection_context():
            slow = _loopback_endpoint(administration.id, slow_port)
        since_slow = _max_seq()
        _say(f"latency beside a receiver that answers after {SLOW_SECONDS:g} s")
        slow_started = time.time()
        _write_events(administration.id, EVENTS, LATENCY_RATE, "beside-slow")
        slow_check = _wait_delivered(endpoint_ids, since_slow, wanted, timeout=600)
        with db.database.connection_context():
            WebhookEndpoint.update(enabled=False).where(WebhookEndpoint.id == slow.id).execute()
            slow_served = WebhookDelivery.select().where(WebhookDelivery.endpoint == slow.id,
                                                         WebhookDelivery.status == "delivered").count()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        errors = []
        for worker, log_path in zip(workers, logs, strict=False):
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if worker.returncode != 0:
                errors.append(f"worker exited {worker.returncode}: {_tail(log_path)}")
        records = receivers.stop()

    fast = set(fast_ports)
    backlog = [r for r in records if r[2] < latency_started and r[0] in fast]
    arrivals = sorted(at for _, _, at in backlog)
    per_id = Counter(webhook_id for port, webhook_id, _ in records if port in fast)
    seconds = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    steady = [r for r in records if latency_started <= r[2] < slow_started]
    beside = [r for r in records if r[2] >= slow_started]
    ok_counts = {name: check.get(("delivered", 1), 0) for name, check in
                 (("throughput", throughput_check), ("latency", latency_check), ("slow", slow_check))}
    result = {
        "endpoints": ENDPOINTS, "workers": WORKERS, "events": EVENTS, "deliveries": wanted,
        "throughput": {
            "received": len(arrivals), "seconds": round(seconds, 2),
            "per_second": round(len(arrivals) / seconds, 1) if seconds else 0.0,
            "from_worker_start_s": round(all_delivered - started, 2),
            # Load-independent: CPU the workers (incl. start-up) and receivers spent per delivery.
            "worker_cpu_ms_per_delivery": round(worker_cpu / wanted * 1000, 3),
            "receiver_cpu_ms_per_delivery": round(receiver_cpu / wanted * 1000, 3),
        },
        "latency": _summary(_latencies(steady, fast)),
        "latency_beside_slow": _summary(_latencies(beside, fast)),
        "slow_delivered": slow_served,
        "checks": ok_counts,
        "duplicates": sum(n - 1 for n in per_id.values() if n > 1),
        "errors": errors,
    }
    if result["duplicates"]:  # what the workers logged tells why a delivery went out twice
        errors.extend(f"worker {n} logged: {_tail(path)}" for n, path in enumerate(logs) if _tail(path))
    result["ok"] = (not errors and result["duplicates"] == 0
                    and all(n == wanted for n in ok_counts.values()))
    result["target_holds"] = result["ok"] and result["throughput"]["per_second"] >= TARGET_PER_SECOND
    return result


def render_section(result: dict, command: str, when: str) -> str:
    if result.get("problem"):
        return f"{SECTION}\n\n`{command}` on {when}: **failed**: {result['problem']}\n"
    t, lat, slow = result["throughput"], result["latency"], result["latency_beside_slow"]
    checked = ("every delivery delivered on its first attempt, none received twice" if result["ok"]
               else f"**check failed**: {result['checks']}, duplicates {result['duplicates']}, "
                    f"{'; '.join(result['errors'])}")
    lines = [
        SECTION,
        "",
        f"`{command}` on {when}: one administration with {result['endpoints']} endpoints (loopback",
        f"receivers that answer at once), {result['workers']} `paydock worker` processes with default",
        "settings on the bench's throw-away PostgreSQL. Latency: the event's `created_at` → the",
        f"request's arrival, while {LATENCY_RATE} events a second "
        f"({LATENCY_RATE * result['endpoints']} deliveries a second) are written.",
        "",
        "| measure | deliveries | result |",
        "| --- | --- | --- |",
        f"| throughput, from a backlog of {result['events']} events (first to last request) | "
        f"{t['received']:,} | **{t['per_second']:,.1f} deliveries/s** ({t['seconds']} s; all recorded "
        f"{t['from_worker_start_s']} s after the workers started; worker CPU, start-up included, "
        f"{t['worker_cpu_ms_per_delivery']} ms per delivery, receivers "
        f"{t['receiver_cpu_ms_per_delivery']} ms) |",
        f"| latency | {lat['count']:,} | p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
        f"max {lat['max_ms']} ms |",
        f"| latency beside one receiver answering after {SLOW_SECONDS:g} s | {slow['count']:,} | "
        f"p50 {slow['p50_ms']} ms, p95 {slow['p95_ms']} ms, max {slow['max_ms']} ms "
        f"(the slow one got {result['slow_delivered']} meanwhile) |",
        "",
        f"Target: ≥ {TARGET_PER_SECOND:,} deliveries/s with 2 workers — "
        f"{'holds' if result['target_holds'] else '**does not hold**'}. Check: {checked}.",
    ]
    return "\n".join(lines) + "\n"


def replace_section(markdown: str, section: str) -> str:
    """`markdown` with its webhook section replaced by `section` (or added at the end)."""
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(markdown):
        return pattern.sub(lambda _: section + "\n", markdown, count=1).rstrip() + "\n"
    return markdown.rstrip() + "\n\n" + section


def main(argv: list[str] | None = None, command: str | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"),
                        help="the RESULTS.md whose webhook section to replace; '-' prints it")
    args = parser.parse_args(argv)
    command = command or "python -m bench.webhook_delivery" + (" " + " ".join(argv) if argv else "")
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    pg = PostgresServer()
    try:
        _say("starting PostgreSQL")
        pg.start()
        url = pg.create_database("paydock_webhook_bench")
        database = db.open_database(url, timeout=30, pool_size=4)
        db.bind(database)
        with database.connection_context():
            migrate()
        with tempfile.TemporaryDirectory(prefix="paydock-webhook-bench-") as workdir:
            result = measure(url, Path(workdir))
    finally:
        pg.cleanup()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    section = render_section(result, command, time.strftime("%Y-%m-%d")) + \
        f"\nLoad average (1/5/15 min) of the shared 2-CPU machine: before {load_before}, after {load}\n" \
        "(other work running beside the benchmark).\n"
    _say(str(result))
    if args.output == "-":
        print(section)
    else:
        path = Path(args.output)
        path.write_text(replace_section(path.read_text() if path.exists() else "", section))
        _say(f"wrote {path}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
