"""The webhook delivery worker (`paydock worker`).

One pass (`run_once`): fan out new outbox events into deliveries, then repeatedly
claim one endpoint with due deliveries and send them, oldest event first; run the
periodic jobs that are due (the hourly payment-reminder run among them); then send
the invoice e-mails that are due (webhooks/mail.py).

Claiming: a worker takes a *lease* on an endpoint (`lease_until`, `lease_token`),
selected with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers can run and
each endpoint is served by one worker at a time: deliveries to an endpoint go out one
by one, in event order (a retried delivery arrives after newer ones). The lease lasts
two HTTP timeouts plus 5 seconds and is renewed after every attempt, so it never runs
out while its owner is still sending; a worker that dies (even SIGKILL) loses its lease
when it expires and another worker (or its restart) resends what had not been
recorded: at-least-once delivery, with the same `webhook-id` so receivers can
deduplicate.

Attempts: 2xx is delivered; anything else (status, timeout, connection error, a URL
that now resolves to a refused address) is retried after 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 14 h, 20 h and 24 h, then the delivery is `failed`. An endpoint whose
attempts have all failed for `PAYDOCK_WEBHOOK_DISABLE_AFTER_DAYS` is disabled, with
the reason. Time comes from the injectable `clock`, so tests never sleep.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import peewee

from models.db import database, is_postgres, utcnow
from models.events import Event, purge_events
from models.reminders import run_reminders
from models.webhooks import WebhookDelivery, WebhookEndpoint
from webhooks.mail import MailSender
from webhooks.outbox import dispatch_events
from webhooks.signing import webhook_headers
from webhooks.urls import UnsafeUrl, check_url

log = logging.getLogger("paydock.worker")

#: Wait before each retry; after the last one fails the delivery is `failed`.
RETRY_SCHEDULE = tuple(
    timedelta(seconds=s)
    for s in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
USER_AGENT = "PayDock-Webhooks/1.0"
Clock = Callable[[], datetime]


def next_attempt_after(failures: int, now: datetime) -> datetime | None:
    """When to try again after `failures` failed attempts in a row (None: give up)."""
    if failures > len(RETRY_SCHEDULE):
        return None
    return now + RETRY_SCHEDULE[failures - 1]


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    elapsed_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def unreachable(self) -> bool:
        """No HTTP answer at all: the rest of the endpoint's batch would fare no better."""
        return self.status_code is None


@dataclass
class PeriodicTask:
    name: str
    every: timedelta
    function: Callable[[datetime], object]
    last_run: datetime | None = field(default=None)


#: Jobs every worker also runs, at most once per `every` (e.g. a billing run).
PERIODIC_TASKS: list[PeriodicTask] = []


def register_periodic(name: str, every_seconds: float, function: Callable[[datetime], object]) -> None:
    """Have `paydock worker` call `function(now)` about every `every_seconds`."""
    PERIODIC_TASKS.append(PeriodicTask(name, timedelta(seconds=every_seconds), function))


class DeliveryWorker:
    """Sends webhook deliveries; one instance per process (it is not thread-safe)."""

    def __init__(self, settings, *, clock: Clock = utcnow,
                 transport: httpx.BaseTransport | None = None, mail_transport=None) -> None:
        self.policy = settings.webhook_url_policy
        self.timeout = settings.webhook_timeout
        self.batch_size = max(1, settings.webhook_batch_size)
        self.poll_interval = settings.worker_poll_interval
        self.disable_after = timedelta(days=settings.webhook_disable_after_days)
        self.retention_days = settings.event_retention_days
        self.lease = timedelta(seconds=2 * self.timeout + 5)
        self.clock = clock
        self.stopping = threading.Event()
        self.http = httpx.Client(
            timeout=self.timeout, follow_redirects=False, trust_env=False, transport=transport,
            headers={"User-Agent": USER_AGENT},
        )
        # Invoice e-mails and payment reminders go out through the same worker.
        self.mail = MailSender(settings, clock=clock, transport=mail_transport,
                               next_attempt_after=next_attempt_after)
        self.mail.stopping = self.stopping.is_set
        self.periodic = [PeriodicTask("purge events", timedelta(hours=1), self._purge),
                         PeriodicTask("payment reminders", timedelta(hours=1), run_reminders),
                         *PERIODIC_TASKS]

    # ------------------------------------------------------------ loop

    def stop(self) -> None:
        """Finish the attempt in progress, then return from `run`/`run_once`."""
        self.stopping.set()

    def close(self) -> None:
        self.http.close()

    def run(self) -> None:
        """Work until `stop()` (SIGTERM/SIGINT in `paydock worker`), idling between passes."""
        while not self.stopping.is_set():
            try:
                with database.connection_context():
                    worked = self.run_once()
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                log.warning("database unavailable: %s", exc)
                worked = 0
            except Exception:
                # Keep serving the other endpoints; a lease left behind expires by itself.
                log.exception("worker pass failed")
                worked = 0
            if not worked:
                self.stopping.wait(self.poll_interval)

    def run_once(self, max_batches: int = 10_000) -> int:
        """Dispatch waiting events and send every delivery due now; returns events
        dispatched plus attempts made (0: nothing to do)."""
        work = 0
        while not self.stopping.is_set():
            dispatched = dispatch_events(self.clock())
            work += dispatched
            if not dispatched:
                break
        for _ in range(max_batches):
            if self.stopping.is_set():
                break
            endpoint = self.claim_endpoint()
            if endpoint is None:
                break
            work += self.deliver_batch(endpoint)
        self.run_periodic()
        work += self.mail.run_once()
        return work

    def run_periodic(self) -> None:
        now = self.clock()
        for task in self.periodic:
            if task.last_run is None or now - task.last_run >= task.every:
                task.last_run = now
                try:
                    task.function(now)
                except Exception:
                    log.exception("periodic task %s failed", task.name)

    def _purge(self, now: datetime) -> None:
        removed = purge_events(now, self.retention_days)
        if removed:
            log.info("purged %d events older than %d days", removed, self.retention_days)

    # ------------------------------------------------------------ claiming

    def claim_endpoint(self) -> WebhookEndpoint | None:
        """Lease one enabled endpoint that has deliveries due, least recently served first."""
        now = self.clock()
        token = str(uuid.uuid4())
        due = WebhookDelivery.select(peewee.SQL("1")).where(
            WebhookDelivery.administration == WebhookEndpoint.administration,
            WebhookDelivery.endpoint == WebhookEndpoint.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        with database.atomic():
            query = (
                WebhookEndpoint.select()
                .where(
                    WebhookEndpoint.enabled,
                    WebhookEndpoint.lease_until.is_null() | (WebhookEndpoint.lease_until < now),
                    peewee.fn.EXISTS(due),
                )
                .order_by(WebhookEndpoint.last_claimed_at.asc(nulls="first"), WebhookEndpoint.id)
                .limit(1)
            )
            if is_postgres():
                query = query.for_update(skip_locked=True)
            endpoint = query.first()
            if endpoint is None:
                return None
            endpoint.lease_until = now + self.lease
            endpoint.lease_token = token
            WebhookEndpoint.update(
                lease_until=endpoint.lease_until, lease_token=token, last_claimed_at=now
            ).where(WebhookEndpoint.id == endpoint.id).execute()
        return endpoint

    def _release(self, endpoint: WebhookEndpoint) -> None:
        with database.atomic():
            WebhookEndpoint.update(lease_until=None, lease_token=None).where(
                WebhookEndpoint.id == endpoint.id, WebhookEndpoint.lease_token == endpoint.lease_token
            ).execute()

    # ------------------------------------------------------------ sending

    def deliver_batch(self, endpoint: WebhookEndpoint) -> int:
        """Send up to a batch of the leased endpoint's due deliveries in event order;
        returns the attempts made."""
        now = self.clock()
        deliveries = list(
            WebhookDelivery.select(WebhookDelivery, Event.id, Event.payload)
            .join(Event)
            .where(
                WebhookDelivery.administration == endpoint.administration_id,
                WebhookDelivery.endpoint == endpoint.id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.event_xact_id, WebhookDelivery.event_seq)
            .limit(self.batch_size)
        )
        attempts = 0
        try:
            for delivery in deliveries:
                if self.stopping.is_set():
                    break
                started = self.clock()
                result = self.send(endpoint, delivery, started)
                attempts += 1
                if not self.record(endpoint, delivery, result, started) or result.unreachable:
                    break
        finally:
            self._release(endpoint)
        log.info("made %d delivery attempt(s) to endpoint %s", attempts, endpoint.id)
        return attempts

    def send(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: datetime) -> AttemptResult:
        """One signed POST of the event's payload to the endpoint."""
        try:
            target = check_url(endpoint.url, self.policy)
        except UnsafeUrl as exc:
            return AttemptResult(None, f"URL refused: {exc}", 0)
        body = delivery.event.payload
        headers = webhook_headers(endpoint.signing_secrets(now), delivery.webhook_id, now, body)
        headers.update({
            "Content-Type": "application/json",
            "Host": target.host_header,
            "PayDock-Delivery-Attempt": str(delivery.attempts + 1),
        })
        extensions = {"sni_hostname": target.server_name} if target.url.startswith("https:") else {}
        started = time.perf_counter()
        try:
            with self.http.stream("POST", target.url, content=body.encode("utf-8"), headers=headers,
                                  extensions=extensions) as response:
                status: int | None = response.status_code
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.TimeoutException:
            status, error = None, f"timed out after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        return AttemptResult(status, error[:500] if error else None, elapsed_ms)

    def record(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery, result: AttemptResult,
               attempted_at: datetime) -> bool:
        """Store an attempt's outcome and renew the lease; False when the endpoint is no
        longer ours to serve (disabled, deleted or its lease lost)."""
        now = self.clock()
        values = {
            "attempts": WebhookDelivery.attempts + 1,
            "last_attempt_at": attempted_at,
            "response_status": result.status_code,
            "response_time_ms": result.elapsed_ms,
            "last_error": result.error,
            "updated_at": now,
        }
        if result.delivered:
            values.update(status="delivered", delivered_at=now, next_attempt_at=None, failures=0)
        else:
            failures = delivery.failures + 1
            retry_at = next_attempt_after(failures, now)
            values.update(failures=failures, next_attempt_at=retry_at,
                          status="pending" if retry_at else "failed")
        endpoint.lease_until = now + self.lease
        mine = (WebhookEndpoint.id == endpoint.id) & (WebhookEndpoint.lease_token == endpoint.lease_token)
        with database.atomic():
            WebhookDelivery.update(values).where(WebhookDelivery.id == delivery.id).execute()
            if result.delivered:
                kept = WebhookEndpoint.update(failing_since=None, lease_until=endpoint.lease_until).where(
                    mine, WebhookEndpoint.enabled).execute()
                return kept == 1
            kept = WebhookEndpoint.update(
                failing_since=peewee.fn.COALESCE(WebhookEndpoint.failing_since, attempted_at),
                lease_until=endpoint.lease_until,
            ).where(mine, WebhookEndpoint.enabled).execute()
            disabled = WebhookEndpoint.update(
                enabled=False, updated_at=now,
                disabled_reason=(
                    f"Disabled automatically at {now.isoformat(timespec='seconds')}Z: every delivery "
                    f"attempt failed for {self.disable_after.total_seconds() / 86400:g} days "
                    f"(last error: {result.error})"
                ),
            ).where(mine, WebhookEndpoint.enabled,
                    WebhookEndpoint.failing_since <= now - self.disable_after).execute()
        if disabled:
            log.warning("webhook endpoint %s disabled: failing since at least %s", endpoint.id,
                        now - self.disable_after)
        else:
            log.info("webhook delivery %s attempt failed: %s", delivery.id, result.error)
        return kept == 1 and not disabled
