"""Schemathesis hooks for the CLI run (SCHEMATHESIS_HOOKS) and the in-process run (imported).

Real test data. A generated id names nothing, so nearly every request that refers to another
resource would end in 404 or 422 before PayDock's rules run. For positive test cases only
(negative ones are sent as generated), ids are replaced by ids of real rows, read from the
spec's own shape rather than from a list of operations:

- a path parameter `{id}` of `/<collection>/{id}...` gets an id of that collection, a path
  parameter with another name (`{external_id}`) a value of that name;
- a body field `<thing>_id` (top level, or in a list of objects such as `lines`) gets an id
  of the collection `/<thing>s`, when the spec has that path;
- a body field named in `fields` (the webhook `url`) gets that value (a loopback receiver);
- the dates of a rule named `<a>-not-before-<b>` in the operation's 422 `x-rules` are put
  in that order, so that the case reaches the rules no schema describes.

The ids come from the fixture file the test writes (PAYDOCK_FUZZ_FIXTURES: rows it created
before the run, by collection) and from every id the API returns on a 2xx of a collection or
one of its items during the run; a 204 on DELETE takes the id out. A value that is already a
known id (a link of the stateful phase put it there) is kept. Per operation, ids that were
answered with a 4xx are not offered again while others remain, and ids that were answered
with a 2xx are preferred: a credit note consumes its invoice, a conversion keeps working
on the same accepted quote.

Every Idempotency-Key Schemathesis generates is made unique. Generated values repeat
across test cases ("0", "00", ...), and PayDock rightly replays the first response
for a repeated key, even after the resource it created was deleted in another
scenario; Schemathesis' "created resource not found" check assumes every successful
POST created something new. Negative test cases are sent unchanged: editing them
would make Schemathesis re-classify them as positive.
The replay and mismatch behaviour is tested in tests/reliability/test_idempotency.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import re
import uuid

import schemathesis
import yaml

VALID_KEY = re.compile(r"^[!-~]{1,255}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATE_RULE = re.compile(r"^([a-z-]+)-not-before-([a-z-]+)$")


class TestData:
    """Known ids per collection (`contacts`, `webhook-deliveries`, ...) or parameter name."""

    def __init__(self, fixtures: dict) -> None:
        self.ids: dict[str, list[str]] = {name: list(values) for name, values in
                                          fixtures.get("ids", {}).items()}
        self.fields: dict[str, str] = dict(fixtures.get("fields", {}))
        self.known: set[str] = {value for values in self.ids.values() for value in values}
        self.good: dict[tuple[str, str], set[str]] = {}
        self.bad: dict[tuple[str, str], set[str]] = {}
        self.chosen: dict[str, list[tuple[str, str, str]]] = {}
        self.rng = random.Random(fixtures.get("seed"))

    def add(self, collection: str, value) -> None:
        if isinstance(value, str) and value not in self.known:
            self.known.add(value)
            self.ids.setdefault(collection, []).append(value)

    def remove(self, collection: str, value: str) -> None:
        if value in self.ids.get(collection, []):
            self.ids[collection].remove(value)

    def pick(self, label: str, collection: str) -> str | None:
        """An id of `collection` for operation `label`: one that worked for it, or one not
        tried by it yet, or (all tried and refused) any."""
        values = self.ids.get(collection)
        if not values:
            return None
        key = (label, collection)
        good = [v for v in values if v in self.good.get(key, ())]
        fresh = [v for v in values if v not in self.good.get(key, ()) and v not in self.bad.get(key, ())]
        if good and (not fresh or self.rng.random() < 0.5):
            return self.rng.choice(good)
        return self.rng.choice(fresh or values)


def _load() -> TestData:
    path = os.environ.get("PAYDOCK_FUZZ_FIXTURES")
    if not path:
        return TestData({})
    with open(path) as file:
        return TestData(json.load(file))


DATA = _load()
SPEC = yaml.safe_load((pathlib.Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())


def _collection(path: str) -> str | None:
    """`invoices` for /invoices, /invoices/{id}, /invoices/{id}/credit."""
    first = path.strip("/").split("/")[0]
    return first if first and "{" not in first else None


COLLECTIONS = {_collection(path) for path in SPEC["paths"]} - {None}


def _resolve(node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


#: operationId -> the rules its 422 response names (x-rules).
RULES = {
    operation["operationId"]: list(_resolve(operation.get("responses", {}).get("422", {})).get("x-rules", []))
    for item in SPEC["paths"].values() for method, operation in item.items()
    if method in ("get", "put", "post", "patch", "delete")
}


def _is_positive(case) -> bool:
    return case.meta is None or not case.meta.generation.mode.is_negative


def _reference_collection(field: str, collections: set[str]) -> str | None:
    if not field.endswith("_id"):
        return None
    name = field[:-3].replace("_", "-") + "s"
    return name if name in collections else None


def _fill_references(case, label: str, body: dict, collections: set[str]) -> None:
    for field, value in list(body.items()):
        if field in DATA.fields:
            body[field] = DATA.fields[field]
            continue
        collection = _reference_collection(field, collections)
        if collection is not None and isinstance(value, str) and value not in DATA.known:
            chosen = DATA.pick(label, collection)
            if chosen is not None:
                body[field] = chosen
                DATA.chosen.setdefault(case.id, []).append((label, collection, chosen))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _fill_references(case, label, item, collections)


def _order_dates(case, body: dict) -> None:
    for rule in RULES.get(case.operation.definition.raw.get("operationId"), []):
        match = DATE_RULE.match(rule)
        if not match:
            continue
        later, earlier = (name.replace("-", "_") for name in match.groups())
        first, second = body.get(earlier), body.get(later)
        if isinstance(first, str) and isinstance(second, str) and second < first:
            body[earlier], body[later] = second, first


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _is_positive(case):
        return
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.match(key):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    collections = COLLECTIONS
    label = case.operation.label
    collection = _collection(case.operation.path)
    for name, value in list((case.path_parameters or {}).items()):
        pool = collection if name == "id" else name
        if isinstance(value, str) and value in DATA.known:
            continue
        chosen = DATA.pick(label, pool)
        if chosen is not None:
            case.path_parameters[name] = chosen
            DATA.chosen.setdefault(case.id, []).append((label, pool, chosen))
    if isinstance(case.body, dict):
        _fill_references(case, label, case.body, collections)
        _order_dates(case, case.body)


@schemathesis.hook
def after_call(context, case, response):
    status = response.status_code
    for label, pool, chosen in DATA.chosen.pop(case.id, []):
        (DATA.good if 200 <= status < 300 else DATA.bad).setdefault((label, pool), set()).add(chosen)
    collection = _collection(case.operation.path)
    if collection is None or not 200 <= status < 300:
        return
    path = case.operation.path
    item_path = re.fullmatch(r"/[^/{}]+/\{id\}", path) is not None
    if case.method.upper() == "DELETE" and item_path and status == 204:
        DATA.remove(collection, str((case.path_parameters or {}).get("id")))
        return
    if case.method.upper() == "POST" and re.fullmatch(r"/[^/{}]+", path) or item_path:
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict) and isinstance(body.get("id"), str) and UUID.match(body["id"]):
            DATA.add(collection, body["id"])


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
