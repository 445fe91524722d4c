"""Every PayDock setting, read once from PAYDOCK_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///paydock.db"
    #: Seconds a verified API key stays cached in a process; a revoke reaches
    #: other processes within this bound.
    api_key_cache_seconds: float = 10.0
    validate_responses: bool = False
    #: Webhook URLs that resolve to loopback/private addresses are refused unless set.
    webhook_allow_private: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    log_level: str = "INFO"
    #: Seconds to wait for a database connection or statement before answering 503.
    database_timeout: float = 5.0
    database_pool_size: int = 20
    #: One JSON object per log line (with the request id); false gives plain text lines.
    log_json: bool = True
    #: Directory where gunicorn workers share their Prometheus figures (multi-process mode);
    #: gunicorn.conf.py sets it; empty for a single process.
    metrics_dir: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ
        base = cls(
            database_url=env.get("PAYDOCK_DATABASE_URL", cls.database_url),
            api_key_cache_seconds=float(
                env.get("PAYDOCK_API_KEY_CACHE_SECONDS", cls.api_key_cache_seconds)
            ),
            validate_responses=_flag(env.get("PAYDOCK_VALIDATE_RESPONSES"), False),
            webhook_allow_private=_flag(env.get("PAYDOCK_WEBHOOK_ALLOW_PRIVATE"), False),
            host=env.get("PAYDOCK_HOST", cls.host),
            port=int(env.get("PAYDOCK_PORT", cls.port)),
            workers=int(env.get("PAYDOCK_WORKERS", cls.workers)),
            log_level=env.get("PAYDOCK_LOG_LEVEL", cls.log_level).upper(),
            database_timeout=float(env.get("PAYDOCK_DATABASE_TIMEOUT", cls.database_timeout)),
            database_pool_size=int(env.get("PAYDOCK_DATABASE_POOL_SIZE", cls.database_pool_size)),
            log_json=_flag(env.get("PAYDOCK_LOG_JSON"), True),
            # prometheus_client reads this variable itself; it is the standard name.
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR", ""),
        )
        return replace(base, **overrides)
