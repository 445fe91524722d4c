"""Schemathesis over every operation of openapi.yaml: in-process, and the CLI against gunicorn."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import negative_data_rejection

from models import api_keys, tenancy
from paydock import create_app
from paydock.settings import Settings
from tests.conftest import GENEROUS_RATE_LIMIT, bind_test_database
from tests.contract import schemathesis_hooks  # noqa: F401  (registers the hooks in-process too)
from tests.contract.fuzz_data import seed as seed_fuzz_data
from tests.mollie_stub import MollieStub
from tests.server import ROOT, GunicornServer

FUZZ_DB = "sqlite:///" + tempfile.mkdtemp(prefix="paydock-fuzz-") + "/fuzz.db"
APP = create_app(Settings.from_env({}, database_url=FUZZ_DB, validate_responses=True,
                                   webhook_allow_private=True, **GENEROUS_RATE_LIMIT))
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)
# PayDock refuses text with NUL characters (422): PostgreSQL cannot store them. The spec says
# so in prose, which Schemathesis cannot read, so it is told not to generate them.
schema.config.generation.update(allow_x00=False)


def _admin_key(url: str) -> str:
    database = bind_test_database(url)
    with database.connection_context():
        administration = tenancy.create_administration("Fuzz BV")
        _, key = api_keys.create_api_key(administration.id, "fuzz", ["read", "write", "admin"])
    return key


@pytest.fixture(scope="module")
def fuzz_key():
    return _admin_key(FUZZ_DB)


@pytest.fixture(autouse=True)
def _bound(fuzz_key):
    bind_test_database(FUZZ_DB)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case, fuzz_key):
    # The key is added to every case here, which also "repairs" negative cases whose only
    # defect was an extra query parameter the test client drops (empty name or empty list),
    # so negative_data_rejection would flag valid requests. The CLI run below sends requests
    # exactly as generated and keeps every check, negative_data_rejection included.
    case.call_and_validate(headers={"X-API-Key": fuzz_key}, excluded_checks=[negative_data_rejection])


#: Operations whose path names an invoice: with the random ids Schemathesis makes up they
#: only ever meet a 404, so they are also run on a real invoice of the fuzz administration.
ON_AN_INVOICE = ["send_invoice", "list_invoice_deliveries", "get_invoice_reminders"]
#: And the administration's reminder schedule, which needs no id.
REMINDER_SETTINGS = ["get_reminder_settings", "update_reminder_settings"]
_REACHED: dict[str, list[int]] = {}


@pytest.fixture(scope="module")
def fuzz_invoice(fuzz_key) -> str:
    """A concept invoice of the fuzz administration, which has the seller details UBL needs."""
    from starlette.testclient import TestClient

    from tests.api.test_invoice_documents import SELLER_DETAILS

    headers = {"X-API-Key": fuzz_key}
    with TestClient(APP) as client:
        assert client.patch("/api/administration", json=SELLER_DETAILS, headers=headers).status_code == 200
        customer = client.post("/api/contacts", json={"name": "Acme BV", "email": "info@acme.nl"},
                               headers=headers)
        assert customer.status_code == 201, customer.text
        invoice = client.post("/api/invoices", headers=headers, json={
            "contact_id": customer.json()["id"], "status": "concept", "due_date": "2026-05-11",
            "invoice_date": "2026-04-11",
            "lines": [{"description": "Installatie", "quantity": 2, "unit_price_incl": 125.00,
                       "tax_percentage": 21}]})
        assert invoice.status_code == 201, invoice.text
        return invoice.json()["id"]


@pytest.mark.parametrize("operation_id", ON_AN_INVOICE + REMINDER_SETTINGS)
def test_sending_operations_conform_on_a_real_invoice(operation_id, fuzz_key, fuzz_invoice):
    operation = schema.find_operation_by_id(operation_id)
    statuses = _REACHED.setdefault(operation_id, [])

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case):
        if operation_id in ON_AN_INVOICE:
            case.path_parameters = {**(case.path_parameters or {}), "id": fuzz_invoice}
        response = case.call_and_validate(headers={"X-API-Key": fuzz_key},
                                          excluded_checks=[negative_data_rejection])
        statuses.append(response.status_code)

    run()
    # Reached: the operation answered with success, not only refusals.
    assert any(200 <= status < 300 for status in statuses), (operation_id, statuses)


#: Generated cases per operation in the fuzzing phase (schemathesis.toml gives the core
#: operations more); with the coverage, examples and stateful phases about 10,000 requests.
FUZZ_EXAMPLES = 30
#: The operations at the core of the product: each must be accepted (2xx) at least this often.
CORE_OPERATIONS = ("create_invoice", "create_payment", "create_quote", "create_subscription",
                   "credit_invoice", "invoice_quote")
CORE_ACCEPTED = 100
#: Schemathesis warnings that mean the run did not reach the logic behind an operation.
FORBIDDEN_WARNINGS = ("Schema validation mismatch", "Missing test data", "Rate limited")
PHASES = ("Examples", "Coverage", "Fuzzing", "Stateful")


def accepted_by_operation(log_text: str) -> Counter:
    """operationId -> how many 2xx responses the server's access log records for it."""
    accepted: Counter = Counter()
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "paydock.access" and 200 <= int(entry.get("status") or 0) < 300:
            accepted[entry.get("operation_id")] += 1
    return accepted


def test_schemathesis_cli_against_gunicorn(tmp_path):
    """All checks, all phases, positive and negative data, a random seed, against a real server
    seeded with real data (tests/contract/fuzz_data.py; the hooks put its ids into valid
    requests), so the core operations run their rules instead of ending in 404 or 422.

    The stateful phase follows the spec's `links` and what Schemathesis 4.32 infers from the
    response schemas, path parameters and `Location` headers ("N inferred" below)."""
    url = "sqlite:///" + str(tmp_path / "cli.db")
    data_file = tmp_path / "fuzz-data.json"
    key = seed_fuzz_data(url, data_file)
    seed = int(os.environ.get("FUZZ_SEED") or secrets.randbits(64))
    print(f"Schemathesis seed: {seed} (FUZZ_SEED={seed} repeats this run)")
    # One Schemathesis worker: two threads generating at once occasionally trip a CPython
    # 3.11 race in the `ast` module ("AST constructor recursion depth mismatch", cpython
    # #106905) inside Hypothesis; on two cores one worker also runs more cases in the time.
    # GunicornServer turns rate limiting off (a limit far above what the run sends).
    # Loopback webhook URLs allowed, so the spec's local example creates endpoints to test;
    # payment links are made at a loopback stand-in for Mollie. The access log (INFO) is
    # where the accepted requests are counted. No --max-time: it splits the time into equal
    # shares per operation, which cuts the core operations short. The run is bounded by the
    # examples per operation instead (schemathesis.toml), and by the timeout below.
    mollie = MollieStub()
    server = GunicornServer(
        url, workers=2, PAYDOCK_WEBHOOK_ALLOW_PRIVATE="true", PAYDOCK_WEBHOOK_ALLOW_HTTP="true",
        PAYDOCK_MOLLIE_API_KEY=mollie.api_key, PAYDOCK_MOLLIE_API_URL=mollie.url,
        PAYDOCK_LOG_LEVEL="INFO", PAYDOCK_LOG_JSON="true")
    server.env["PAYDOCK_PUBLIC_BASE_URL"] = server.url
    with mollie, server:
        result = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(ROOT / "schemathesis.toml"),
             "run", f"{server.url}/api/openapi.json",
             "-H", f"X-API-Key: {key}", "--checks", "all", "--phases", ",".join(p.lower() for p in PHASES),
             "--seed", str(seed), "--max-examples", str(FUZZ_EXAMPLES),
             "--workers", "1", "--generation-database", "none", "--no-color",
             "--request-timeout", "10", "--generation-allow-x00", "false"],
            cwd=tmp_path, capture_output=True, text=True, timeout=900,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks",
                 "PYTHONPATH": str(ROOT), "FUZZ_DATA": str(data_file),
                 "FUZZ_REFUSED": str(tmp_path / "refused.jsonl")},
        )
        log_text = server.log_text()
    (tmp_path / "schemathesis.txt").write_text(result.stdout)
    accepted = accepted_by_operation(log_text)
    summary = result.stdout.split("SUMMARY")[-1]
    tail = result.stdout[-6000:] + f"\naccepted: {dict(accepted)}"
    print(summary, {operation: accepted[operation] for operation in CORE_OPERATIONS})
    assert result.returncode == 0, tail
    assert "Authentication failed" not in result.stdout, tail
    assert f"Seed: {seed}" in result.stdout, tail
    assert "Failures:" not in summary and "failure" not in summary.strip().splitlines()[-1], tail
    for warning in FORBIDDEN_WARNINGS:
        assert warning not in result.stdout, tail
    for phase in PHASES:
        assert re.search(rf"✅  {phase} \(in ", result.stdout), (phase, tail)
    # The stateful phase ran real scenarios over links between operations.
    stateful = re.search(r"Stateful \(in [^)]*\)\s+Scenarios:\s+(\d+)\s+API Links:\s+(\d+) covered",
                         result.stdout)
    assert stateful, tail
    scenarios, links_covered = int(stateful.group(1)), int(stateful.group(2))
    assert scenarios >= 10 and links_covered >= 5, tail
    short = {operation: accepted[operation] for operation in CORE_OPERATIONS
             if accepted[operation] < CORE_ACCEPTED}
    assert not short, (short, tail)
