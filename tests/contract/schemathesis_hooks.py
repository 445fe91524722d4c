"""Schemathesis hooks for the CLI run (SCHEMATHESIS_HOOKS) and the in-process run (imported).

Every Idempotency-Key Schemathesis generates is made unique. Generated values repeat
across test cases ("0", "00", ...), and PayDock rightly replays the first response
for a repeated key, even after the resource it created was deleted in another
scenario; Schemathesis' "created resource not found" check assumes every successful
POST created something new. Negative test cases are sent unchanged: editing them
would make Schemathesis re-classify them as positive.
The replay and mismatch behaviour is tested in tests/reliability/test_idempotency.py.

Real data (the CLI run, `FUZZ_DATA` names the file tests/contract/fuzz_data.py wrote):
a request Schemathesis means to be valid keeps every generated value, except that

- an id that names nothing PayDock handed out (in the path, or a body's `contact_id`,
  `invoice_id`, a line's `product_id`, a credit's `line_ids`) becomes a real one of the
  right kind: ids from the seeded data, or from what earlier responses created;
- a PATCH of an invoice, quote or subscription that changes a concept-only field, or asks
  for a status, goes to a seeded document that allows it (a concept to issue or edit, an
  issued invoice to mark paid, a sent quote to answer, a running subscription); a status
  change uses its document up;
- a payment names an open seeded invoice; sending, UBL and payment links go to seeded
  invoices (whose contacts have every detail), and PATCH /administration keeps the seller
  details a UBL invoice needs;
- dates keep the rules no schema can express (`due-date-not-before-invoice-date`,
  `valid-until-not-before-quote-date`, `end-date-not-before-start-date`, and a document
  date at most a year ahead), by moving the later date;
- an `iban` gets the check digits its account number needs, and a length an IBAN can have
  (`iban-checksum`); reminder steps get strictly increasing days (`steps-days-increasing`);
  a contact's `external_id` is made unique (generated values repeat);
- a webhook endpoint's `url` is a loopback URL (`webhook-host-public`: generated hosts do
  not resolve), and a bank statement body is a CAMT.053 file (`camt-statement`).

Each of these rules stays tested with its 422 in tests/api. Requests Schemathesis means
to be invalid are sent exactly as generated. `FUZZ_REFUSED` names a file where every valid
request PayDock refused (4xx other than 401 and 404) is written, one JSON line each, to
see what keeps the fuzzer from the core.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import schemathesis
from schemathesis.core.parameters import ParameterLocation

VALID_KEY = re.compile(r"^[!-~]{1,255}$")
#: Operations that use up the resource they act on: each valid request takes a fresh one.
CONSUMING = {
    ("POST", "/invoices/{id}/credit"): "creditable",
    ("POST", "/quotes/{id}/invoice"): "accepted_quotes",
    ("POST", "/bank-statement-entries/{id}/match"): "unmatched_entries",
}
#: Operations that need a document with every party detail a UBL invoice needs: they take a
#: seeded invoice (one the run created may name a contact without an address or e-mail).
SEEDED = {
    ("POST", "/invoices/{id}/send"): "invoices",
    ("GET", "/invoices/{id}/ubl"): "invoices",
    ("POST", "/invoices/{id}/payment-link"): "open_invoices",
}
#: The seller details a UBL invoice needs (models/documents/ubl.py SELLER_REQUIRED): a PATCH
#: /administration that would blank one keeps it, so that sending stays possible for the run.
SELLER_REQUIRED = ("name", "address", "postal_code", "city", "kvk_number", "vat_number", "iban")
#: PATCH /invoices/{id} and /quotes/{id}: the fields that change only while the document is
#: a concept, and (status asked for -> the fresh kind whose status may be set to it).
CONCEPT_ONLY = {"lines", "contact_id", "invoice_date", "quote_date", "reference", "currency"}
PATCH_TARGETS = {
    "/invoices/{id}": ("concept_invoices", {"verzonden": "concept_invoices", "betaald": "issued_invoices",
                                            "oninbaar": "issued_invoices"}),
    "/quotes/{id}": ("concept_quotes", {"verzonden": "concept_quotes", "geaccepteerd": "sent_quotes",
                                        "afgewezen": "sent_quotes"}),
}
#: The kind of id in a path, by its first segment (only these are filled in).
PATH_KINDS = {
    "contacts": "contacts", "products": "products", "invoices": "invoices", "payments": "payments",
    "bank-statements": "bank_statements", "bank-statement-entries": "unmatched_entries", "quotes": "quotes",
    "subscriptions": "subscriptions", "webhook-endpoints": "webhook_endpoints",
    "webhook-deliveries": "webhook_deliveries", "client-portal": "external_ids",
    "providers": "provider_tokens", "api-keys": "api_keys",
}
#: What a 201 from POST /<collection> adds to.
CREATED_KINDS = {
    "/contacts": "contacts", "/products": "products", "/invoices": "invoices", "/quotes": "quotes",
    "/subscriptions": "subscriptions", "/webhook-endpoints": "webhook_endpoints", "/api-keys": "api_keys",
    "/payments": "payments",
}
#: (earlier, later): the later date may not be before the earlier one.
DATE_ORDER = (("invoice_date", "due_date"), ("quote_date", "valid_until"), ("start_date", "end_date"))
DOCUMENT_DATES = ("invoice_date", "quote_date")


class RealData:
    """The seeded ids, and those created during the run. Thread-safe."""

    def __init__(self, data: dict) -> None:
        self.lock = threading.Lock()
        self.seeded = {kind: list(values) for kind, values in data.items() if isinstance(values, list)}
        self.creditable = {item["id"]: item["line_ids"] for item in data.get("creditable", [])}
        self.seeded["creditable"] = list(self.creditable)
        self.own_key = data.get("own_key")
        #: kind -> ids created by the run itself (the only ones DELETE is pointed at).
        self.created: dict[str, list[str]] = {}
        self.known: set[str] = {str(v) for values in self.seeded.values() for v in values}
        #: id -> the dates a later PATCH is checked against (invoice_date, quote_date, start_date).
        self.dates: dict[str, dict[str, str]] = dict(data.get("dates", {}))

    def seeded_pick(self, kind: str, seed: object) -> str | None:
        """One seeded id of `kind`, chosen by the generated value it replaces."""
        pool = self.seeded.get(kind, [])
        if not pool:
            return None
        return pool[int(hashlib.sha256(repr(seed).encode()).hexdigest()[:12], 16) % len(pool)]

    def pick(self, kind: str, seed: object, *, created_only: bool = False) -> str | None:
        """One id of `kind`, chosen by the generated value it replaces (so a seed replays)."""
        with self.lock:
            pool = list(self.created.get(kind, []))
            if not created_only:
                pool += self.seeded.get(kind, [])
        if not pool:
            return None
        digest = int(hashlib.sha256(repr(seed).encode()).hexdigest()[:12], 16)
        return pool[digest % len(pool)]

    def take(self, kind: str) -> str | None:
        """A fresh id of `kind` that no request used before (None when all are used)."""
        with self.lock:
            pool = self.seeded.get(kind, [])
            return pool.pop(0) if pool else None

    def created_by_run(self, value: str) -> bool:
        with self.lock:
            return any(value in pool for pool in self.created.values())

    def provide(self, kind: str, values: list[str]) -> None:
        """More fresh ids of `kind` for `take`."""
        with self.lock:
            self.seeded.setdefault(kind, []).extend(values)
            self.known.update(values)

    def learn(self, kind: str, value: str) -> None:
        with self.lock:
            self.created.setdefault(kind, []).append(value)
            self.known.add(value)

    def forget(self, value: str) -> None:
        with self.lock:
            for pool in (*self.created.values(), *self.seeded.values()):
                if value in pool:
                    pool.remove(value)


_DATA: RealData | None = None
_LOADED = False


def real_data() -> RealData | None:
    """The run's RealData, or None when no FUZZ_DATA file is given (the in-process run)."""
    global _DATA, _LOADED
    if not _LOADED:
        _LOADED = True
        path = os.environ.get("FUZZ_DATA")
        if path:
            _DATA = RealData(json.loads(Path(path).read_text()))
    return _DATA


def _is_negative(case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_negative


@schemathesis.hook
def before_call(context, case, kwargs):
    if _is_negative(case):
        return
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.match(key):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    data = real_data()
    if data is not None:
        use_real_data(data, case)
    if case.meta is not None and isinstance(case.body, dict | list):
        # Have Schemathesis check the body again before it is sent: values merged into a
        # generated body (from other responses) can break its schema, and such a case must
        # count as invalid data, not valid data that PayDock refused.
        case.meta.mark_dirty(ParameterLocation.BODY)


@schemathesis.hook
def after_call(context, case, response):
    if os.environ.get("FUZZ_REFUSED") and not _is_negative(case) and 400 <= response.status_code < 500 \
            and response.status_code not in (401, 404):
        with open(os.environ["FUZZ_REFUSED"], "a") as log:
            log.write(json.dumps([case.meta.phase.name.value if case.meta else None, case.operation.method,
                                  case.operation.path, response.status_code, response.text[:300],
                                  case.body if isinstance(case.body, (dict, list)) else None]) + "\n")
    data = real_data()
    if data is None or not 200 <= response.status_code < 300:
        return
    method, path = case.operation.method.upper(), case.operation.path
    if method == "POST" and path == "/bank-statements":
        try:
            entries = json.loads(response.content).get("entries") or []
        except (ValueError, AttributeError):
            return
        data.provide("unmatched_entries",
                     [entry["id"] for entry in entries if entry.get("status") == "unmatched"])
    elif method in ("POST", "PUT", "PATCH"):
        try:
            answer = json.loads(response.content)
        except ValueError:
            return
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            return
        dates = {field: answer[field] for field, _ in DATE_ORDER if isinstance(answer.get(field), str)}
        if dates:
            data.dates[answer["id"]] = dates
        if method == "POST" and path in CREATED_KINDS and response.status_code == 201:
            data.learn(CREATED_KINDS[path], answer["id"])
    elif method == "DELETE" and isinstance(case.path_parameters, dict):
        for value in case.path_parameters.values():
            data.forget(str(value))


def use_real_data(data: RealData, case) -> None:
    """Put real ids, dates in order and usable URLs and files into a valid request."""
    method, path = case.operation.method.upper(), case.operation.path
    chosen = _fill_path(data, case, method, path)
    body = case.body
    if path == "/bank-statements" and method == "POST":
        from tests.contract.fuzz_data import camt053

        reference = uuid.uuid4().hex[:16].upper()
        # As text: Schemathesis counts a bytes body as invalid when it checks an edited case.
        case.body = camt053([(reference, Decimal("12.34"))], f"FUZZ-{reference}").decode()
        return
    if not isinstance(body, dict):
        return
    if "contact_id" in body and str(body["contact_id"]) not in data.known:
        body["contact_id"] = data.pick("contacts", body["contact_id"]) or body["contact_id"]
    if "invoice_id" in body and str(body["invoice_id"]) not in data.seeded.get("open_invoices", ()):
        # An open invoice: one the run created or credited may be a concept, paid or credited.
        body["invoice_id"] = data.pick("open_invoices", body["invoice_id"]) or body["invoice_id"]
    for line in body.get("lines") or ():
        # A line without its own price takes its product's: only the seeded products have
        # prices a line may have (`product-price-within-line-bounds`).
        if not isinstance(line, dict) or "product_id" not in line:
            continue
        product = str(line["product_id"])
        priced = "unit_price_incl" in line
        if product not in data.known or (not priced and product not in data.seeded["products"]):
            line["product_id"] = data.seeded_pick("products", line["product_id"]) or line["product_id"]
    if isinstance(body.get("line_ids"), list) and chosen in data.creditable:
        lines = data.creditable[chosen]
        body["line_ids"] = lines[:max(1, min(len(body["line_ids"]), len(lines)))]
    if isinstance(body.get("iban"), str):
        body["iban"] = with_check_digits(body["iban"])
    if path == "/reminder-settings" and isinstance(body.get("steps"), list):
        _increasing_days(body["steps"])
    if path == "/administration":
        for field in SELLER_REQUIRED:
            if field in body and not body[field]:
                del body[field]
    if path.startswith("/contacts") and isinstance(body.get("external_id"), str) and body["external_id"]:
        # Unique in the administration: generated values repeat, and reuse those in responses.
        body["external_id"] = f"{body['external_id'][:87]}-{uuid.uuid4().hex[:12]}"
    if "url" in body and path.startswith("/webhook-endpoints"):
        from tests.contract.fuzz_data import WEBHOOK_URL

        body["url"] = WEBHOOK_URL
    _order_dates(body, data.dates.get(chosen or "", {}))


def _fill_path(data: RealData, case, method: str, path: str) -> str | None:
    """Give the path's one parameter a real value of its kind; returns the value used."""
    parameters = case.path_parameters
    if not isinstance(parameters, dict) or len(parameters) != 1:
        return None
    (name, value), = parameters.items()
    kind = PATH_KINDS.get(path.strip("/").split("/")[0])
    fresh = _patch_target(case.body, path) if method == "PATCH" else None
    # DELETE, PUT and PATCH only on what the run itself created (webhook endpoints may be
    # changed): the seeded data stays as the requests that name it expect it.
    changes = method == "DELETE" or (method in ("PUT", "PATCH") and kind != "webhook_endpoints")
    if str(value) in data.known and (method, path) not in CONSUMING and (method, path) not in SEEDED \
            and fresh is None and not (changes and not data.created_by_run(str(value))):
        return str(value)
    if (method, path) in CONSUMING:
        replacement = data.take(CONSUMING[(method, path)])
    elif (method, path) in SEEDED:
        replacement = data.seeded_pick(SEEDED[(method, path)], value)
    elif fresh is not None and (replacement := _patch_pick(data, fresh, case.body, value)) is not None:
        pass
    else:
        if kind is None:
            return None
        replacement = data.pick(kind, value, created_only=changes)
    if replacement is None or replacement == data.own_key:
        return None
    parameters[name] = replacement
    return replacement


def _patch_pick(data: RealData, kind: str, body: dict, value) -> str | None:
    """A seeded document of `kind` for a PATCH: a status change uses one up (it leaves the
    status the kind stands for), other changes share them."""
    return data.take(kind) if "status" in body else data.seeded_pick(kind, value)


def _patch_target(body, path: str) -> str | None:
    """The kind of fresh document a PATCH of `body` on `path` needs to be accepted: a concept
    to change a concept-only field or to issue it, an issued one to mark it paid or answered,
    a running subscription for anything but its note (a cancelled one changes no more).
    None when any document of the run will do (only `due_date`, `valid_until` or `note`)."""
    if not isinstance(body, dict):
        return None
    if path == "/subscriptions/{id}":
        return "active_subscriptions" if body.keys() - {"note"} else None
    if path not in PATCH_TARGETS:
        return None
    concept, by_status = PATCH_TARGETS[path]
    if CONCEPT_ONLY & body.keys():
        return concept
    return by_status.get(body.get("status"))


def _increasing_days(steps: list) -> None:
    """The steps' `days_after_due` made strictly increasing within 1..365
    (`steps-days-increasing`), keeping each step's other fields."""
    if not all(isinstance(step, dict) and type(step.get("days_after_due")) is int for step in steps):
        return
    days: list[int] = []
    for index, day in enumerate(sorted(step["days_after_due"] for step in steps)):
        days.append(min(max(day, days[-1] + 1 if days else 1), 365 - (len(steps) - 1 - index)))
    for step, day in zip(steps, days, strict=True):
        step["days_after_due"] = day


def with_check_digits(iban: str) -> str:
    """`iban` with the check digits its country code and account number need (`iban-checksum`),
    its account number padded with zeros or cut to a length an IBAN can have (15 to 34)."""
    compact = iban.replace(" ", "").upper()
    if len(compact) < 4 or not compact.isalnum():
        return iban
    compact = compact[:34].ljust(15, "0")
    rest = int("".join(str(int(c, 36)) for c in compact[4:] + compact[:2] + "00"))
    return f"{compact[:2]}{98 - rest % 97:02d}{compact[4:]}"


def _day(value) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _order_dates(body: dict, stored: dict) -> None:
    """Dates in the order PayDock's rules want; `stored`: the dates of the resource a PATCH
    changes, for the ones the body leaves out."""
    latest = date.today() + timedelta(days=360)
    for field in DOCUMENT_DATES:
        day = _day(body.get(field))
        if day is not None and day > latest:
            body[field] = date.today().isoformat()
    for earlier, later in DATE_ORDER:
        start = (_day(body.get(earlier)) or _day(stored.get(earlier))
                 or (date.today() if earlier in DOCUMENT_DATES else None))
        end = _day(body.get(later))
        if start is not None and end is not None and end < start:
            body[later] = start.isoformat()


def _sends_nothing(value) -> bool:
    return value is None or value == [] or value == {}


@schemathesis.hook
def filter_query(ctx, query):
    """Drop generated queries whose undocumented parameter never reaches the URL (an empty
    name, or an empty list or object, which HTTP clients leave out): Schemathesis counts such
    a case as invalid, but the request PayDock receives is valid, so a 200 is right."""
    if not isinstance(query, dict) or ctx.operation is None:
        return True
    documented = {parameter.name for parameter in ctx.operation.query}
    return not any(name not in documented and (name == "" or _sends_nothing(value))
                   for name, value in query.items())
