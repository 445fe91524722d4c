"""Every GET operation in openapi.yaml has a statement-count test, so a new read endpoint
without one fails the suite (it is added here, with its test, or as a non-data endpoint)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

from tests import querycount
from tests.api import test_statement_counts as statement_counts

ROOT = Path(__file__).resolve().parents[2]
COUNTS = "tests/api/test_statement_counts.py"
SUBSCRIPTIONS = "tests/api/test_subscriptions.py::test_subscription_reads_take_a_fixed_number_of_statements"

#: GET operationId -> the test asserting its exact statement count for 1 and for many rows.
COVERED = {
    "list_contacts": f"{COUNTS}::test_contact_reads_take_a_fixed_number_of_statements",
    "get_contact": f"{COUNTS}::test_contact_reads_take_a_fixed_number_of_statements",
    "list_products": f"{COUNTS}::test_product_reads_take_a_fixed_number_of_statements",
    "get_product": f"{COUNTS}::test_product_reads_take_a_fixed_number_of_statements",
    "list_api_keys": f"{COUNTS}::test_api_key_list_takes_a_fixed_number_of_statements",
    "list_webhook_endpoints": f"{COUNTS}::test_webhook_endpoint_reads_take_a_fixed_number_of_statements",
    "get_webhook_endpoint": f"{COUNTS}::test_webhook_endpoint_reads_take_a_fixed_number_of_statements",
    "list_webhook_deliveries": f"{COUNTS}::test_webhook_delivery_list_takes_a_fixed_number_of_statements",
    "list_events": f"{COUNTS}::test_event_reads_take_a_fixed_number_of_statements",
    "get_event": f"{COUNTS}::test_event_reads_take_a_fixed_number_of_statements",
    "list_audit_log": f"{COUNTS}::test_audit_log_list_takes_a_fixed_number_of_statements",
    "get_administration": f"{COUNTS}::test_administration_read_takes_a_fixed_number_of_statements",
    "get_invoice_pdf": f"{COUNTS}::test_invoice_documents_take_a_fixed_number_of_statements",
    "get_invoice_ubl": f"{COUNTS}::test_invoice_documents_take_a_fixed_number_of_statements",
    "list_invoice_deliveries": f"{COUNTS}::test_invoice_deliveries_take_a_fixed_number_of_statements",
    "get_invoice_reminders": f"{COUNTS}::test_invoice_deliveries_take_a_fixed_number_of_statements",
    "get_reminder_settings": f"{COUNTS}::test_reminder_settings_read_takes_a_fixed_number_of_statements",
    "list_invoices": "tests/api/test_invoices.py::test_list_and_detail_use_a_fixed_number_of_queries",
    "get_invoice": "tests/api/test_invoices.py::test_list_and_detail_use_a_fixed_number_of_queries",
    "list_payments": "tests/api/test_payments.py::test_payment_list_and_detail_use_a_fixed_number_of_queries",
    "get_payment": "tests/api/test_payments.py::test_payment_list_and_detail_use_a_fixed_number_of_queries",
    "list_quotes": "tests/api/test_quotes.py::test_quote_reads_take_a_fixed_number_of_statements",
    "get_quote": "tests/api/test_quotes.py::test_quote_reads_take_a_fixed_number_of_statements",
    "list_subscriptions": SUBSCRIPTIONS,
    "get_subscription": SUBSCRIPTIONS,
    "get_client_portal": "tests/api/test_portal.py::test_portal_queries_do_not_grow_with_the_history",
    "list_bank_statements": "tests/api/test_bank_statements.py::"
                            "test_statement_reads_take_a_fixed_number_of_statements",
    "get_bank_statement": "tests/api/test_bank_statements.py::"
                          "test_statement_reads_take_a_fixed_number_of_statements",
    "get_vat_report": "tests/api/test_vat_report.py::"
                      "test_the_report_takes_one_statement_whatever_the_number_of_invoices",
}

#: GET operations that read no administration data, so have no rows to count.
NOT_DATA = {
    "check_health": "liveness: answers without the database",
    "check_readiness": "readiness: SELECT 1 and the migration table, no administration data",
    "get_metrics": "Prometheus counters kept in memory",
}


def spec_reads() -> dict[str, str]:
    """operationId -> path of every GET operation in openapi.yaml."""
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return {item["get"]["operationId"]: path for path, item in spec["paths"].items() if "get" in item}


def test_every_get_operation_has_a_statement_count_test():
    reads = spec_reads()
    assert len(reads) >= 26
    unaccounted = sorted(set(reads) - set(COVERED) - set(NOT_DATA))
    assert unaccounted == [], f"GET operations without a statement-count test: {unaccounted}"
    stale = sorted((set(COVERED) | set(NOT_DATA)) - set(reads))
    assert stale == [], f"not GET operations in openapi.yaml: {stale}"
    assert not set(COVERED) & set(NOT_DATA)


def test_each_named_test_exists_counts_statements_and_reads_its_path():
    reads = spec_reads()
    for operation, test in COVERED.items():
        file, name = test.split("::")
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        assert callable(getattr(module, name, None)), f"{operation}: {test} does not exist"
        counters = {getattr(module, "count_queries", None), getattr(module, "statements", None)}
        assert counters & {querycount.count_queries, statement_counts.statements}, \
            f"{operation}: {file} does not count statements with tests.querycount"
        source = (ROOT / file).read_text()
        first, *rest = re.findall(r"[a-z][a-z-]*", re.sub(r"\{[^}]*\}", "", reads[operation]))
        for text in (f"/api/{first}", *rest):
            assert text in source, f"{operation}: {file} never requests {text!r}"
