"""The floor: each read scenario's whole response built by PostgreSQL in one SQL statement.

A bare Starlette app that shares no code with PayDock. Auth is a fixed comparison with
the keys the bench seeded (FLOOR_KEYS, JSON `{key: [administration_id, [scopes]]}`); each
route runs one statement whose result is the response body, built with PostgreSQL's JSON
functions (json_build_object, json_agg), and returns those bytes. Its documents carry the
same fields and values as PayDock's (tests/bench/test_floor.py compares them on seeded
data), so PayDock's requests/s over the floor's is how close PayDock comes to what the
data store alone can serve. Serve it like PayDock:

    FLOOR_KEYS='{"ftj_…": ["<administration id>", ["read"]]}' \\
    PAYDOCK_DATABASE_URL=postgresql://… gunicorn -c bench/gunicorn.conf.py 'bench.floor:create_app()'
"""

from __future__ import annotations

import hmac
import json
import os
import threading
import uuid
from contextlib import contextmanager

import psycopg2
import psycopg2.pool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TOTAL_LIMIT = 10_000   # the lists' bounded `total`, as the API documents it
INVOICE_STATUSES = ("concept", "verzonden", "deels_betaald", "betaald", "oninbaar", "gecrediteerd")


# ------------------------------------------------------------------ SQL pieces

def _money(column: str) -> str:
    return f"round(({column})::numeric / 100, 2)"


def _plain(column: str, scale: int) -> str:
    return f"trim_scale(({column})::numeric / {scale})"


def _ts(column: str) -> str:
    return f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


TODAY = "(now() AT TIME ZONE 'Europe/Amsterdam')::date"
CONTACT_FIELDS = ("name", "email", "company_name", "address", "postal_code", "city", "country",
                  "vat_number", "kvk_number")


def _line_json(alias: str) -> str:
    return (f"json_build_object('id', {alias}.id, 'position', {alias}.position, "
            f"'description', {alias}.description, 'quantity', {_plain(f'{alias}.quantity', 10000)}, "
            f"'unit_price_incl', {_money(f'{alias}.unit_price_incl')}, "
            f"'tax_percentage', {_plain(f'{alias}.tax_percentage', 100)}, 'product_id', {alias}.product_id, "
            f"'is_text_line', {alias}.is_text_line, 'total_incl', {_money(f'{alias}.total_incl')}, "
            f"'total_excl', {_money(f'{alias}.total_excl')}, 'total_vat', {_money(f'{alias}.total_vat')})")


def _lines(table: str, owner: str, alias: str) -> str:
    return (f"COALESCE((SELECT json_agg({_line_json('l')} ORDER BY l.position) FROM {table} l "
            f"WHERE l.administration_id = {alias}.administration_id AND l.{owner} = {alias}.id), '[]')")


def _breakdown(table: str, owner: str, alias: str) -> str:
    """The VAT breakdown of a quote's or subscription's lines (per rate: gross, VAT rounded
    half away from zero once per rate, excl), as PayDock computes it."""
    return (f"COALESCE((SELECT json_agg(json_build_object('tax_percentage', {_plain('r.rate', 100)}, "
            f"'total_incl', {_money('r.gross')}, 'total_vat', {_money('r.vat')}, "
            f"'total_excl', {_money('r.gross - r.vat')}) ORDER BY r.rate) FROM ("
            f"SELECT g.rate, g.gross, CASE WHEN g.rate = 0 THEN 0 ELSE "
            f"round(g.gross::numeric * g.rate / (10000 + g.rate)) END AS vat FROM ("
            f"SELECT l.tax_percentage AS rate, sum(l.total_incl) AS gross FROM {table} l "
            f"WHERE l.administration_id = {alias}.administration_id AND l.{owner} = {alias}.id "
            f"AND NOT l.is_text_line GROUP BY l.tax_percentage) g) r), '[]')")


def _invoice_json(i: str = "i", c: str = "c") -> str:
    contact = ", ".join(f"'{f}', CASE WHEN {i}.status = 'concept' THEN {c}.{f} ELSE {i}.contact_{f} END"
                        for f in CONTACT_FIELDS)
    return (f"json_build_object('id', {i}.id, 'number', {i}.number, 'status', {i}.status, "
            f"'is_credit_note', {i}.is_credit_note, 'credit_of', {i}.credit_of_id, "
            f"'contact_id', {i}.contact_id, 'contact', json_build_object('id', {i}.contact_id, {contact}), "
            f"'invoice_date', {i}.invoice_date, 'due_date', {i}.due_date, 'currency', {i}.currency, "
            f"'reference', {i}.reference, 'note', {i}.note, "
            f"'lines', {_lines('invoice_line', 'invoice_id', i)}, "
            f"'total_incl', {_money(f'{i}.total_incl')}, 'total_excl', {_money(f'{i}.total_excl')}, "
            f"'total_vat', {_money(f'{i}.total_vat')}, 'vat_breakdown', {i}.vat_breakdown::json, "
            f"'amount_paid', {_money(f'{i}.amount_paid')}, "
            f"'open_amount', {_money(f'{i}.total_incl - {i}.amount_paid')}, "
            f"'payment_url', CASE WHEN {i}.status IN ('verzonden', 'deels_betaald') "
            f"AND {i}.total_incl > {i}.amount_paid THEN {i}.payment_url END, "
            f"'overdue', ({i}.status IN ('verzonden', 'deels_betaald') AND {i}.total_incl > {i}.amount_paid "
            f"AND {i}.due_date < {TODAY}), "
            f"'created_at', {_ts(f'{i}.created_at')}, 'updated_at', {_ts(f'{i}.updated_at')})")


def _contact_json(c: str = "c") -> str:
    fields = ", ".join(f"'{f}', {c}.{f}" for f in ("name", "email", "phone", "company_name", "address",
                                                     "postal_code", "city", "country", "vat_number",
                                                     "kvk_number", "iban", "external_id", "notes",
                                                     "archived", "is_consumer"))
    return (f"json_build_object('id', {c}.id, {fields}, 'created_at', {_ts(f'{c}.created_at')}, "
            f"'updated_at', {_ts(f'{c}.updated_at')})")


def _collection_costs(cents: str) -> str:
    """The statutory collection costs on an open amount in cents, in cents (the scale of the
    Besluit vergoeding voor buitengerechtelijke incassokosten, at least 40.00, at most 6,775.00)."""
    tranches = (f"least({cents}, 250000) * 0.15 + least(greatest({cents} - 250000, 0), 250000) * 0.10 "
                f"+ least(greatest({cents} - 500000, 0), 500000) * 0.05 "
                f"+ least(greatest({cents} - 1000000, 0), 19000000) * 0.01 "
                f"+ greatest({cents} - 20000000, 0) * 0.005")
    return f"least(greatest(round({tranches}), 4000), 677500)"


def _reminders(i: str) -> str:
    """An invoice's payment reminder state (as the client portal shows it), from its reminder
    e-mails that went out."""
    is_open = (f"({i}.status IN ('verzonden', 'deels_betaald') AND NOT {i}.is_credit_note "
               f"AND {i}.total_incl > {i}.amount_paid)")
    sent = (f"(SELECT count(*) AS n, max(d.sent_at) AS last, (array_agg(d.reminder_pay_by ORDER BY "
            f"d.reminder_step) FILTER (WHERE d.reminder_pay_by IS NOT NULL))[1] + 1 AS chargeable_from "
            f"FROM invoice_delivery d WHERE d.administration_id = {i}.administration_id "
            f"AND d.invoice_id = {i}.id AND d.reminder_step IS NOT NULL AND d.status = 'sent')")
    costs = _money(_collection_costs(f"({i}.total_incl - {i}.amount_paid)"))
    return (f"(SELECT CASE WHEN r.n = 0 THEN jsonb_build_object('state', 'none', 'reminders_sent', 0, "
            f"'last_sent_at', NULL, 'collection_costs', NULL, 'collection_costs_chargeable_from', NULL) "
            f"WHEN NOT {is_open} OR r.chargeable_from IS NULL THEN jsonb_build_object('state', CASE WHEN "
            f"{is_open} THEN 'reminded' ELSE 'stopped' END, 'reminders_sent', r.n, 'last_sent_at', "
            f"{_ts('r.last')}, 'collection_costs', NULL, 'collection_costs_chargeable_from', NULL) "
            f"ELSE jsonb_build_object('state', CASE WHEN {TODAY} >= r.chargeable_from THEN "
            f"'collection_costs_chargeable' ELSE 'collection_costs_announced' END, 'reminders_sent', r.n, "
            f"'last_sent_at', {_ts('r.last')}, 'collection_costs', {costs}, "
            f"'collection_costs_chargeable_from', r.chargeable_from) END FROM {sent} r)")


def _document_contact(alias: str, c: str) -> str:
    fields = ", ".join(f"'{f}', {c}.{f}" for f in CONTACT_FIELDS)
    return f"json_build_object('id', {alias}.contact_id, {fields})"


def _quote_json(q: str = "q", c: str = "c") -> str:
    return (f"json_build_object('id', {q}.id, 'number', {q}.number, 'status', CASE WHEN {q}.status = "
            f"'verzonden' AND {q}.valid_until < {TODAY} THEN 'verlopen' ELSE {q}.status END, "
            f"'contact_id', {q}.contact_id, 'contact', {_document_contact(q, c)}, "
            f"'quote_date', {q}.quote_date, 'valid_until', {q}.valid_until, 'currency', {q}.currency, "
            f"'reference', {q}.reference, 'note', {q}.note, 'lines', {_lines('quote_line', 'quote_id', q)}, "
            f"'total_incl', {_money(f'{q}.total_incl')}, 'total_excl', {_money(f'{q}.total_excl')}, "
            f"'total_vat', {_money(f'{q}.total_vat')}, "
            f"'vat_breakdown', {_breakdown('quote_line', 'quote_id', q)}, 'invoice', {q}.invoice_id, "
            f"'created_at', {_ts(f'{q}.created_at')}, 'updated_at', {_ts(f'{q}.updated_at')})")


def _subscription_json(s: str = "s", c: str = "c") -> str:
    return (f"json_build_object('id', {s}.id, 'status', {s}.status, 'contact_id', {s}.contact_id, "
            f"'contact', {_document_contact(s, c)}, 'interval', {s}.interval, "
            f"'interval_count', {s}.interval_count, 'start_date', {s}.start_date, 'end_date', {s}.end_date, "
            f"'invoice_status', {s}.invoice_status, 'payment_term_days', {s}.payment_term_days, "
            f"'currency', {s}.currency, 'reference', {s}.reference, 'note', {s}.note, "
            f"'lines', {_lines('subscription_line', 'subscription_id', s)}, "
            f"'total_incl', {_money(f'{s}.total_incl')}, 'total_excl', {_money(f'{s}.total_excl')}, "
            f"'total_vat', {_money(f'{s}.total_vat')}, "
            f"'vat_breakdown', {_breakdown('subscription_line', 'subscription_id', s)}, "
            f"'next_period_start', {s}.next_period_start, "
            f"'created_at', {_ts(f'{s}.created_at')}, 'updated_at', {_ts(f'{s}.updated_at')})")


def _payment_json(p: str = "p") -> str:
    return (f"json_build_object('id', {p}.id, 'invoice_id', {p}.invoice_id, 'contact_id', {p}.contact_id, "
            f"'amount', {_money(f'{p}.amount')}, 'payment_date', {p}.payment_date, "
            f"'external_method', {p}.external_method, 'external_reference', {p}.external_reference, "
            f"'note', {p}.note, 'created_at', {_ts(f'{p}.created_at')}, "
            f"'updated_at', {_ts(f'{p}.updated_at')})")


def _list_sql(table: str, joins: str, where: str, document: str, alias: str) -> str:
    """One page of `table` (alias `alias`) in (created_at, id) order, by offset or after a
    cursor row, with the envelope PayDock answers."""
    matching = f"FROM {table} {alias} {joins} WHERE {alias}.administration_id = %(administration)s {where}"
    cursor = (f"AND (%(after)s::uuid IS NULL OR ({alias}.created_at, {alias}.id) > "
              f"(SELECT x.created_at, x.id FROM {table} x WHERE x.id = %(after)s::uuid "
              f"AND x.administration_id = %(administration)s))")
    return f"""
        WITH page AS (
            SELECT {alias}.created_at, {alias}.id {matching} {cursor}
            ORDER BY {alias}.created_at, {alias}.id LIMIT %(limit)s + 1 OFFSET %(offset)s
        ), shown AS (
            SELECT {document} AS doc, {alias}.created_at, {alias}.id
            FROM (SELECT * FROM page ORDER BY created_at, id LIMIT %(limit)s) p
            JOIN {table} {alias} ON {alias}.id = p.id {joins}
        ),
        counted AS (SELECT count(*) AS n FROM page),
        total AS (
            SELECT CASE
                WHEN %(after)s::uuid IS NULL AND (SELECT n FROM counted) <= %(limit)s
                     AND ((SELECT n FROM counted) > 0 OR %(offset)s = 0)
                    THEN %(offset)s + (SELECT n FROM counted)
                WHEN %(after)s::uuid IS NULL AND (SELECT n FROM counted) > %(limit)s
                     AND %(offset)s + %(limit)s >= {TOTAL_LIMIT}
                    THEN {TOTAL_LIMIT + 1}
                ELSE (SELECT count(*) FROM (SELECT 1 {matching} LIMIT {TOTAL_LIMIT + 1}) m)
            END AS n
        )
        SELECT json_build_object(
            'data', COALESCE((SELECT json_agg(doc ORDER BY created_at, id) FROM shown), '[]'),
            'total', LEAST((SELECT n FROM total), {TOTAL_LIMIT}),
            'total_exact', (SELECT n FROM total) <= {TOTAL_LIMIT},
            'has_more', (SELECT n FROM counted) > %(limit)s,
            'limit', %(limit)s, 'offset', %(offset)s)::text"""


INVOICE_LIST = _list_sql(
    "invoice", "JOIN contact c ON c.id = i.contact_id",
    "AND (%(statuses)s::text[] IS NULL OR i.status = ANY(%(statuses)s::text[])) "
    "AND (%(contact)s::uuid IS NULL OR i.contact_id = %(contact)s::uuid)", _invoice_json(), "i")
CONTACT_LIST = _list_sql(
    "contact", "", "AND (%(archived)s::boolean IS NULL OR c.archived = %(archived)s::boolean)",
    _contact_json(), "c")
INVOICE_GET = f"""
    SELECT {_invoice_json()}::text FROM invoice i JOIN contact c ON c.id = i.contact_id
    WHERE i.administration_id = %(administration)s AND i.id = %(id)s::uuid"""
CONTACT_GET = f"""
    SELECT {_contact_json()}::text FROM contact c
    WHERE c.administration_id = %(administration)s AND c.id = %(id)s::uuid"""
PORTAL = f"""
    WITH me AS (SELECT * FROM contact WHERE administration_id = %(administration)s
                AND external_id = %(external_id)s LIMIT 1),
    mine AS (SELECT i.* FROM invoice i, me WHERE i.administration_id = %(administration)s
             AND i.contact_id = me.id),
    summary AS (
        SELECT count(*) FILTER (WHERE status IN ('verzonden', 'deels_betaald') AND NOT is_credit_note)
                   AS open_count,
               COALESCE(sum(total_incl - amount_paid) FILTER (WHERE status IN ('verzonden', 'deels_betaald')
                   AND NOT is_credit_note), 0) AS open_amount,
               COALESCE(sum(total_incl - amount_paid) FILTER (WHERE status <> 'concept'), 0) AS balance
        FROM mine),
    open_invoices AS (
        SELECT i.*, row_number() OVER (ORDER BY i.due_date, i.invoice_date, i.created_at, i.id) AS n
        FROM mine i WHERE i.status IN ('verzonden', 'deels_betaald') AND NOT i.is_credit_note
        ORDER BY i.due_date, i.invoice_date, i.created_at, i.id LIMIT 100),
    other_invoices AS (
        SELECT i.*, 100 + row_number() OVER (ORDER BY i.invoice_date DESC, i.created_at DESC, i.id DESC) AS n
        FROM mine i WHERE i.status <> 'concept'
        AND NOT (i.status IN ('verzonden', 'deels_betaald') AND NOT i.is_credit_note)
        ORDER BY i.invoice_date DESC, i.created_at DESC, i.id DESC LIMIT 10),
    shown AS (SELECT * FROM open_invoices UNION ALL SELECT * FROM other_invoices)
    SELECT json_build_object(
        'contact', {_contact_json('me')},
        'summary', json_build_object(
            'open_invoice_count', (SELECT open_count FROM summary),
            'open_invoice_amount', {_money('(SELECT open_amount FROM summary)')},
            'active_subscriptions', (SELECT count(*) FROM subscription s WHERE s.administration_id =
                                     %(administration)s AND s.contact_id = me.id AND s.status = 'actief'),
            'balance', {_money('(SELECT balance FROM summary)')}),
        'invoices', COALESCE((SELECT json_agg(({_invoice_json('i', 'me')})::jsonb
                                              || jsonb_build_object('reminders', {_reminders('i')})
                                              ORDER BY i.n) FROM shown i), '[]'),
        'quotes', COALESCE((SELECT json_agg(d ORDER BY quote_date DESC, created_at DESC, id DESC) FROM (
            SELECT {_quote_json('q', 'me')} AS d, q.quote_date, q.created_at, q.id FROM quote q
            WHERE q.administration_id = %(administration)s AND q.contact_id = me.id
            AND q.status = 'verzonden' AND q.valid_until >= {TODAY}
            ORDER BY q.quote_date DESC, q.created_at DESC, q.id DESC LIMIT 50) x), '[]'),
        'subscriptions', COALESCE((SELECT json_agg(d ORDER BY created_at, id) FROM (
            SELECT {_subscription_json('s', 'me')} AS d, s.created_at, s.id FROM subscription s
            WHERE s.administration_id = %(administration)s AND s.contact_id = me.id
            AND s.status IN ('actief', 'gepauzeerd') ORDER BY s.created_at, s.id LIMIT 50) x), '[]'),
        'recent_payments', COALESCE((SELECT json_agg(d ORDER BY payment_date DESC, created_at DESC, id DESC)
            FROM (SELECT {_payment_json('p')} AS d, p.payment_date, p.created_at, p.id FROM payment p
                  WHERE p.administration_id = %(administration)s AND p.contact_id = me.id
                  ORDER BY p.payment_date DESC, p.created_at DESC, p.id DESC LIMIT 10) x), '[]')
    )::text FROM me"""


# ------------------------------------------------------------------ the app

class Floor:
    def __init__(self, database_url: str, keys: dict[str, tuple[str, list[str]]], pool_size: int = 20):
        self.keys = keys
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, pool_size, database_url)
        # psycopg2's pool raises PoolError when every connection is out (requests of a wrk run
        # that ended still finish while the next run's arrive): a request waits for one
        # instead, as PayDock's pool makes it wait.
        self.free = threading.BoundedSemaphore(pool_size)

    @contextmanager
    def cursor(self):
        with self.free:
            connection = self.pool.getconn()
            try:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    yield cursor
            finally:
                self.pool.putconn(connection)

    def one(self, sql: str, params: dict) -> str | None:
        with self.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None if row is None else row[0]

    def caller(self, request: Request, scope: str) -> str | None:
        """The administration of a key with `scope`: a fixed comparison with the seeded keys."""
        given = request.headers.get("x-api-key", "")
        for key, (administration, scopes) in self.keys.items():
            if hmac.compare_digest(given, key) and scope in scopes:
                return administration
        return None


def _json(text: str | None, missing: str = "not found") -> Response:
    if text is None:
        return Response(json.dumps({"status": 404, "detail": missing}), 404, media_type="application/json")
    return Response(text.encode(), 200, media_type="application/json")


def _denied() -> Response:
    return Response(b'{"status": 401}', 401, media_type="application/json")


def _uuid(value: str | None) -> str | None:
    return None if value is None else str(uuid.UUID(value))


def create_app() -> Starlette:
    raw_keys = json.loads(os.environ.get("FLOOR_KEYS", "{}"))
    floor = Floor(os.environ["PAYDOCK_DATABASE_URL"], {k: (a, s) for k, (a, s) in raw_keys.items()})

    def page_params(request: Request, administration: str) -> dict:
        query = request.query_params
        return {"administration": administration, "limit": int(query.get("limit", 100)),
                "offset": int(query.get("offset", 0)), "after": _uuid(query.get("starting_after"))}

    async def health(request: Request) -> Response:
        return Response(b'{"status": "ok"}', media_type="application/json")

    async def list_invoices(request: Request) -> Response:
        if (administration := floor.caller(request, "read")) is None:
            return _denied()
        query = request.query_params
        params = {**page_params(request, administration),
                  "statuses": query["status"].split(",") if "status" in query else None,
                  "contact": _uuid(query.get("contact_id"))}
        return _json(await run_in_threadpool(floor.one, INVOICE_LIST, params))

    async def get_invoice(request: Request) -> Response:
        if (administration := floor.caller(request, "read")) is None:
            return _denied()
        params = {"administration": administration, "id": request.path_params["id"]}
        return _json(await run_in_threadpool(floor.one, INVOICE_GET, params))

    async def list_contacts(request: Request) -> Response:
        if (administration := floor.caller(request, "read")) is None:
            return _denied()
        archived = request.query_params.get("archived")
        params = {**page_params(request, administration),
                  "archived": None if archived is None else archived == "true"}
        return _json(await run_in_threadpool(floor.one, CONTACT_LIST, params))

    async def get_contact(request: Request) -> Response:
        if (administration := floor.caller(request, "read")) is None:
            return _denied()
        params = {"administration": administration, "id": request.path_params["id"]}
        return _json(await run_in_threadpool(floor.one, CONTACT_GET, params))

    async def portal(request: Request) -> Response:
        if (administration := floor.caller(request, "portal")) is None:
            return _denied()
        params = {"administration": administration, "external_id": request.path_params["external_id"]}
        return _json(await run_in_threadpool(floor.one, PORTAL, params))

    return Starlette(routes=[
        Route("/api/health", health),
        Route("/api/invoices", list_invoices),
        Route("/api/invoices/{id}", get_invoice),
        Route("/api/contacts", list_contacts),
        Route("/api/contacts/{id}", get_contact),
        Route("/api/client-portal/{external_id}", portal),
    ])
