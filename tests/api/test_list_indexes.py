"""Every list order and filter in openapi.yaml is served by an index that leads with the
administration, on both backends; a new filter without one fails here."""

from __future__ import annotations

from models import db
from tests.api.test_statement_counts_cover_all import ROOT, spec_reads

ORDER = "(order)"
ADMIN = "administration_id"
STATUS = (ADMIN, "status")
CONTACT = (ADMIN, "contact_id")
UPDATED = (ADMIN, "updated_at")
CREATED = (ADMIN, "created_at", "id")

#: List operationId -> (table, {query parameter or ORDER: the leading columns of its index}).
LISTS = {
    "list_contacts": ("contact", {ORDER: CREATED, "updated_since": UPDATED,
                                  "external_id": (ADMIN, "external_id")}),
    "list_products": ("product", {ORDER: CREATED, "updated_since": UPDATED, "sku": (ADMIN, "sku")}),
    "list_invoices": ("invoice", {ORDER: CREATED, "updated_since": UPDATED, "status": STATUS,
                                  "overdue": (ADMIN, "status", "due_date"), "contact_id": CONTACT,
                                  "date_from": (ADMIN, "invoice_date"), "date_to": (ADMIN, "invoice_date"),
                                  "number": (ADMIN, "number")}),
    "list_payments": ("payment", {ORDER: CREATED, "updated_since": UPDATED,
                                  "invoice_id": (ADMIN, "invoice_id"), "contact_id": CONTACT,
                                  "date_from": (ADMIN, "payment_date"), "date_to": (ADMIN, "payment_date")}),
    "list_quotes": ("quote", {ORDER: CREATED, "updated_since": UPDATED,
                              "status": (ADMIN, "status", "valid_until"), "contact_id": CONTACT,
                              "date_from": (ADMIN, "quote_date"), "date_to": (ADMIN, "quote_date"),
                              "number": (ADMIN, "number")}),
    "list_subscriptions": ("subscription", {ORDER: CREATED, "updated_since": UPDATED, "status": STATUS,
                                            "contact_id": CONTACT, "date_from": (ADMIN, "start_date"),
                                            "date_to": (ADMIN, "start_date")}),
    "list_api_keys": ("api_key", {ORDER: CREATED}),
    "list_webhook_endpoints": ("webhook_endpoint", {ORDER: CREATED}),
    "list_webhook_deliveries": ("webhook_delivery", {
        ORDER: (ADMIN, "endpoint_id", "event_xact_id", "event_seq", "id"),
        "status": (ADMIN, "endpoint_id", "status"),
        # One delivery per (endpoint, event): the unique index finds it, and the endpoint
        # was already checked to belong to the administration.
        "event_id": ("endpoint_id", "event_id")}),
    "list_events": ("event", {ORDER: (ADMIN, "xact_id", "seq"), "after": (ADMIN, "xact_id", "seq")}),
    "list_invoice_deliveries": ("invoice_delivery", {ORDER: (ADMIN, "invoice_id", "created_at", "id")}),
    "list_bank_statements": ("bank_statement", {ORDER: CREATED, "updated_since": UPDATED}),
    "list_audit_log": ("audit_entry", {ORDER: CREATED, "updated_since": UPDATED,
                                       "action": (ADMIN, "action"), "target_id": (ADMIN, "target_id")}),
}

# A cursor (starting_after / ending_before) seeks in the list order's own index.
for _operation, (_table, _wanted) in LISTS.items():
    if _operation != "list_events":
        _wanted["starting_after"] = _wanted["ending_before"] = _wanted[ORDER]

#: Parameters no B-tree index can narrow: paging, substring search, and flags most rows share
#: (the list order's index serves those pages, skipping the few rows that do not match).
NOT_INDEXED = {"limit", "offset", "q", "archived", "active"}


def list_parameters() -> dict[str, set[str]]:
    """List operationId -> the names of its query parameters, from openapi.yaml."""
    import yaml

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    found = {}
    for item in spec["paths"].values():
        operation = item.get("get")
        if operation is None or not operation["operationId"].startswith("list_"):
            continue
        names = set()
        for parameter in item.get("parameters", []) + operation.get("parameters", []):
            if "$ref" in parameter:
                parameter = spec["components"]["parameters"][parameter["$ref"].split("/")[-1]]
            if parameter["in"] == "query":
                names.add(parameter["name"])
        found[operation["operationId"]] = names
    return found


def test_every_list_and_filter_is_declared():
    parameters = list_parameters()
    assert set(parameters) == set(LISTS) == {op for op in spec_reads() if op.startswith("list_")}
    for operation, names in parameters.items():
        undeclared = sorted(names - set(LISTS[operation][1]) - NOT_INDEXED)
        assert undeclared == [], f"{operation}: filters without an index: {undeclared}"


def test_each_order_and_filter_has_its_index(client):
    with db.database.connection_context():
        for operation, (table, wanted) in LISTS.items():
            indexes = [tuple(index.columns) for index in db.database.get_indexes(table)]
            for parameter, columns in wanted.items():
                assert any(index[:len(columns)] == columns for index in indexes), \
                    f"{operation} {parameter}: no index on {table} starts with {columns}; has {indexes}"
