"""Standard Webhooks signatures (https://www.standardwebhooks.com) with `whsec_` secrets."""

from __future__ import annotations

import base64
import math
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A new signing secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def unix_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch for a naive UTC (or aware) datetime."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return math.floor(aware.timestamp())


def signature_header(signing_secrets: list[str], msg_id: str, moment: datetime, body: str) -> str:
    """The `webhook-signature` value: one `v1,<base64>` per secret, space-separated, so a
    receiver holding either the new or the previous secret can verify during a rotation."""
    when = datetime.fromtimestamp(unix_seconds(moment), tz=UTC)
    return " ".join(Webhook(secret).sign(msg_id, when, body) for secret in signing_secrets)


def webhook_headers(signing_secrets: list[str], msg_id: str, moment: datetime, body: str) -> dict:
    """The three Standard Webhooks headers for one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(unix_seconds(moment)),
        "webhook-signature": signature_header(signing_secrets, msg_id, moment, body),
    }
