"""Webhook rules without a database: URL checks, signatures, the retry schedule."""

from __future__ import annotations

import base64
import ipaddress
import socket
from datetime import datetime, timedelta

import pytest
from standardwebhooks import Webhook

from models.db import utcnow
from webhooks.signing import new_secret, signature_header, webhook_headers
from webhooks.urls import UnsafeUrl, UrlPolicy, check_url, is_public, split_url
from webhooks.worker import MAX_ATTEMPTS, RETRY_SCHEDULE, next_attempt_after


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.31.255.255", False), ("192.168.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("255.255.255.255", False), ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:93.184.216.34", True), ("192.0.2.1", False),
])
def test_public_addresses(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("url, message", [
    ("ftp://example.com/x", "must start with https://"),
    ("http://example.com/x", "must use https"),
    ("https://user:secret@example.com/x",
     "must not contain credentials; verify the webhook signature instead"),
    ("https:///x", "has no host"),
    ("https://example.com:0/x", "has an invalid port"),
    ("https://example.com:70000/x", "is not a valid URL"),
    ("https://exa mple.com/x", "must not contain spaces or control characters"),
])
def test_url_rules_without_network(url, message):
    with pytest.raises(UnsafeUrl) as refused:
        split_url(url, UrlPolicy())
    assert str(refused.value) == message


def test_http_only_when_allowed():
    assert split_url("http://127.0.0.1:8080/x", UrlPolicy(allow_http=True)).port == 8080


def test_delivery_target_pins_the_checked_address(monkeypatch):
    answers = {"hooks.example.nl": "93.184.216.34", "v6.example.nl": "2606:2800:220:1::1"}

    def resolve(host, port, *args, **kwargs):
        family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    target = check_url("https://Hooks.Example.NL/paydock?x=1", UrlPolicy())
    assert target.url == "https://93.184.216.34/paydock?x=1"
    assert target.host_header == "Hooks.Example.NL" and target.server_name == "hooks.example.nl"
    target = check_url("https://v6.example.nl:8443", UrlPolicy())
    assert target.url == "https://[2606:2800:220:1::1]:8443/" and target.host_header == "v6.example.nl:8443"
    assert check_url("https://93.184.216.34/x", UrlPolicy()).url == "https://93.184.216.34/x"


def test_secrets_are_32_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert new_secret() != secret


def test_signatures_verify_with_each_secret_during_a_rotation():
    old, new = new_secret(), new_secret()
    body = '{"id": "e1", "type": "contact.created"}'
    headers = webhook_headers([new, old], "msg_1", utcnow(), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"id": "e1", "type": "contact.created"}
    only_new = webhook_headers([new], "msg_1", utcnow(), body)
    Webhook(new).verify(body, only_new)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(old).verify(body, only_new)


def test_signature_covers_id_timestamp_and_body():
    secret = new_secret()
    moment = datetime(2026, 4, 11, 9, 30, 0, 999999)
    header = signature_header([secret], "msg_1", moment, "{}")
    assert header == Webhook(secret).sign("msg_1", moment.replace(microsecond=0), "{}")
    assert header != signature_header([secret], "msg_2", moment, "{}")
    assert header != signature_header([secret], "msg_1", moment + timedelta(seconds=1), "{}")
    assert header != signature_header([secret], "msg_1", moment, "{ }")


def test_retry_schedule():
    now = datetime(2026, 1, 1)
    waits = [next_attempt_after(n, now) - now for n in range(1, MAX_ATTEMPTS)]
    assert waits == [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                     timedelta(hours=5), timedelta(hours=10), timedelta(hours=14), timedelta(hours=20),
                     timedelta(hours=24)]
    assert next_attempt_after(MAX_ATTEMPTS, now) is None and MAX_ATTEMPTS == 10
    assert sum(RETRY_SCHEDULE, timedelta()) == timedelta(hours=75, minutes=35, seconds=5)
