"""Every PayDock setting, read once from PAYDOCK_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from webhooks.urls import UrlPolicy


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _optional_flag(value: str | None) -> bool | None:
    return None if value is None or value.strip() == "" else _flag(value, False)


def _number(env, name: str, default):
    """`env[name]` as a number of the default's type, else `default`; a value that is not
    one is refused with the variable's name."""
    cast = type(default)
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return cast(value)
    except ValueError:
        kind = "a whole number" if cast is int else "a number"
        raise ValueError(f"{name}={value!r} is not {kind}") from None


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///paydock.db"
    #: Seconds a verified API key stays cached in a process (a revocation reaches every
    #: process within 1 s whatever this is: see models.api_keys.REVOCATION_CHECK_SECONDS).
    api_key_cache_seconds: float = 10.0
    validate_responses: bool = False
    #: Webhook URLs that resolve to loopback/private addresses are refused unless set.
    webhook_allow_private: bool = False
    #: Webhook URLs must be https unless set (plain http is for local development and tests).
    webhook_allow_http: bool = False
    #: Seconds a webhook POST may take before it counts as a failed attempt.
    webhook_timeout: float = 10.0
    #: Seconds to wait for a webhook host name to resolve (at creation and at delivery).
    webhook_dns_timeout: float = 2.0
    #: An endpoint whose deliveries have all failed for this many days is disabled.
    webhook_disable_after_days: float = 5.0
    #: Deliveries a worker sends to one endpoint before it looks at the others.
    webhook_batch_size: int = 20
    #: Webhook requests one worker keeps in flight at once (one per endpoint at most).
    webhook_concurrency: int = 50
    #: Most delivery attempts per second to one endpoint (all workers together); 0: no cap.
    webhook_max_per_second: float = 200.0
    #: Seconds an idle `paydock worker` waits before looking for work again.
    worker_poll_interval: float = 0.2
    #: Events (and their delivery log) are kept at least this many days.
    event_retention_days: int = 30
    #: Where e-mail goes: `smtp://user:pass@host:587` (STARTTLS when the server offers it)
    #: or `smtp+ssl://user:pass@host:465` (implicit TLS). Empty: `.eml` files in `mail_dir`.
    smtp_url: str = ""
    #: Seconds an SMTP connection or reply may take before the attempt counts as failed.
    smtp_timeout: float = 30.0
    #: The folder for `.eml` files when no SMTP server is set; empty: `mail` beside the
    #: SQLite database file (or in the working directory for PostgreSQL).
    mail_dir: str = ""
    #: The sender address of every e-mail (envelope and From); empty: the administration's
    #: own e-mail address, else `noreply@paydock.invalid`. Replies go to the administration.
    mail_from: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    log_level: str = "INFO"
    #: Seconds to wait for a database connection or statement before answering 503.
    database_timeout: float = 5.0
    database_pool_size: int = 20
    #: Token bucket per API key: refill rate (requests per second) and bucket size.
    #: 0 for either turns rate limiting off.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100
    #: Failed API-key checks per client address, per process: refill rate and bucket size.
    #: An address without tokens gets 429 before its key is looked up. 0 turns it off.
    failed_auth_per_second: float = 1.0
    failed_auth_burst: int = 20
    #: Largest accepted request body; larger ones get 413 before they are read.
    max_body_bytes: int = 1024 * 1024
    #: One JSON object per log line (with the request id); false gives plain text lines;
    #: None (PAYDOCK_LOG_JSON unset): plain text on a terminal, JSON otherwise.
    log_json: bool | None = None
    #: Directory where gunicorn workers share their Prometheus figures (multi-process mode);
    #: gunicorn.conf.py sets it; empty for a single process.
    metrics_dir: str = ""
    #: Mollie API key (`live_…` or `test_…`); without it payment links are not offered (503).
    mollie_api_key: str = ""
    #: Base URL of Mollie's API (tests point it at a local stub).
    mollie_api_url: str = "https://api.mollie.com"
    #: Seconds a call to the payment provider may take (connect, and again for the answer).
    provider_timeout: float = 10.0
    #: The URL this PayDock is reached at from the internet, e.g. `https://paydock.example.nl`:
    #: the payment provider calls `{public_base_url}/api/providers/mollie/webhook/{token}`.
    public_base_url: str = ""
    #: Where the customer lands after paying; default the public base URL.
    payment_redirect_url: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ
        base = cls(
            database_url=env.get("PAYDOCK_DATABASE_URL", cls.database_url),
            api_key_cache_seconds=_number(env, "PAYDOCK_API_KEY_CACHE_SECONDS", cls.api_key_cache_seconds),
            validate_responses=_flag(env.get("PAYDOCK_VALIDATE_RESPONSES"), False),
            webhook_allow_private=_flag(env.get("PAYDOCK_WEBHOOK_ALLOW_PRIVATE"), False),
            webhook_allow_http=_flag(env.get("PAYDOCK_WEBHOOK_ALLOW_HTTP"), False),
            webhook_timeout=_number(env, "PAYDOCK_WEBHOOK_TIMEOUT", cls.webhook_timeout),
            webhook_dns_timeout=_number(env, "PAYDOCK_WEBHOOK_DNS_TIMEOUT", cls.webhook_dns_timeout),
            webhook_disable_after_days=_number(
                env, "PAYDOCK_WEBHOOK_DISABLE_AFTER_DAYS", cls.webhook_disable_after_days
            ),
            webhook_batch_size=_number(env, "PAYDOCK_WEBHOOK_BATCH_SIZE", cls.webhook_batch_size),
            webhook_concurrency=_number(env, "PAYDOCK_WEBHOOK_CONCURRENCY", cls.webhook_concurrency),
            webhook_max_per_second=_number(env, "PAYDOCK_WEBHOOK_MAX_PER_SECOND", cls.webhook_max_per_second),
            worker_poll_interval=_number(env, "PAYDOCK_WORKER_POLL_INTERVAL", cls.worker_poll_interval),
            event_retention_days=_number(env, "PAYDOCK_EVENT_RETENTION_DAYS", cls.event_retention_days),
            smtp_url=env.get("PAYDOCK_SMTP_URL", cls.smtp_url),
            smtp_timeout=_number(env, "PAYDOCK_SMTP_TIMEOUT", cls.smtp_timeout),
            mail_dir=env.get("PAYDOCK_MAIL_DIR", cls.mail_dir),
            mail_from=env.get("PAYDOCK_MAIL_FROM", cls.mail_from),
            host=env.get("PAYDOCK_HOST", cls.host),
            port=_number(env, "PAYDOCK_PORT", cls.port),
            workers=_number(env, "PAYDOCK_WORKERS", cls.workers),
            log_level=env.get("PAYDOCK_LOG_LEVEL", cls.log_level).upper(),
            database_timeout=_number(env, "PAYDOCK_DATABASE_TIMEOUT", cls.database_timeout),
            database_pool_size=_number(env, "PAYDOCK_DATABASE_POOL_SIZE", cls.database_pool_size),
            rate_limit_per_second=_number(env, "PAYDOCK_RATE_LIMIT_PER_SECOND", cls.rate_limit_per_second),
            rate_limit_burst=_number(env, "PAYDOCK_RATE_LIMIT_BURST", cls.rate_limit_burst),
            failed_auth_per_second=_number(env, "PAYDOCK_FAILED_AUTH_PER_SECOND",
                                           cls.failed_auth_per_second),
            failed_auth_burst=_number(env, "PAYDOCK_FAILED_AUTH_BURST", cls.failed_auth_burst),
            max_body_bytes=_number(env, "PAYDOCK_MAX_BODY_BYTES", cls.max_body_bytes),
            log_json=_optional_flag(env.get("PAYDOCK_LOG_JSON")),
            # prometheus_client reads this variable itself; it is the standard name.
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR", ""),
            mollie_api_key=env.get("PAYDOCK_MOLLIE_API_KEY", cls.mollie_api_key),
            mollie_api_url=env.get("PAYDOCK_MOLLIE_API_URL", cls.mollie_api_url),
            provider_timeout=float(env.get("PAYDOCK_PROVIDER_TIMEOUT", cls.provider_timeout)),
            public_base_url=env.get("PAYDOCK_PUBLIC_BASE_URL", cls.public_base_url),
            payment_redirect_url=env.get("PAYDOCK_PAYMENT_REDIRECT_URL", cls.payment_redirect_url),
        )
        return replace(base, **overrides)

    @property
    def mail_directory(self) -> str:
        """Where `.eml` files go without an SMTP server (absolute)."""
        if self.mail_dir:
            return os.path.abspath(self.mail_dir)
        if self.database_url.startswith("sqlite:///") and self.database_url != "sqlite:///:memory:":
            database_file = os.path.abspath(self.database_url[len("sqlite:///"):])
            return os.path.join(os.path.dirname(database_file), "mail")
        return os.path.abspath("mail")

    @property
    def webhook_url_policy(self) -> UrlPolicy:
        """Which webhook URLs may be called: when endpoints are saved and before each delivery."""
        return UrlPolicy(allow_http=self.webhook_allow_http, allow_private=self.webhook_allow_private,
                         dns_timeout=self.webhook_dns_timeout)

    @property
    def rate_limited(self) -> bool:
        return self.rate_limit_per_second > 0 and self.rate_limit_burst > 0
