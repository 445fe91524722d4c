"""Each event type's webhook body has its schema in openapi.yaml (`x-event-payloads`), and the test
receiver (tests/webhooks/receiver.py) validates every body it receives against it."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import yaml

from models.events import EVENT_TYPES
from tests.openapi_check import event_mismatches
from tests.server import ROOT
from tests.webhooks.receiver import Receiver

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())


def test_every_event_type_has_its_payload_schema():
    assert sorted(SPEC["x-event-payloads"]) == sorted(EVENT_TYPES)


def _event(event_type: str, data: dict) -> dict:
    return {"id": str(uuid.uuid4()), "type": event_type, "created_at": "2026-04-11T09:30:00.000000Z",
            "data": data}


def test_a_body_is_checked_against_its_own_event_type():
    contact = SPEC["components"]["examples"]["Contact"]["value"]
    assert event_mismatches(_event("contact.created", contact)) == []
    assert event_mismatches(_event("product.created", contact))  # a contact is no product
    assert event_mismatches(_event("contact.merged", contact))   # no such event type


def test_the_receiver_fails_the_test_on_a_body_that_breaks_its_schema():
    with pytest.raises(AssertionError, match="x-event-payloads"), Receiver() as receiver:
        response = httpx.post(receiver.url(), content=json.dumps(_event("contact.created", {"id": "x"})),
                              headers={"webhook-id": "msg_wrong", "content-type": "application/json"})
        assert response.status_code == 200
