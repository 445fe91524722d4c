"""schemathesis.toml accepts a 422 for schema-valid data only where openapi.yaml names the
rule that no JSON Schema can express: the operation's 422 response carries `x-rules`, and
its description names each of them."""

from __future__ import annotations

import re
import tomllib

import yaml
from schemathesis.config._checks import PositiveDataAcceptanceConfig

from tests.server import ROOT

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
CONFIG = tomllib.loads((ROOT / "schemathesis.toml").read_text())
DEFAULT = PositiveDataAcceptanceConfig._DEFAULT_EXPECTED_STATUSES
METHODS = {"get", "put", "post", "patch", "delete"}


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        target = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations_with_rules() -> dict[str, list[str]]:
    """operationId -> the rules its 422 response names (operations with none left out)."""
    found = {}
    for item in SPEC["paths"].values():
        for method, operation in item.items():
            if method in METHODS and "422" in operation.get("responses", {}):
                rules = _resolve(operation["responses"]["422"]).get("x-rules")
                if rules:
                    found[operation["operationId"]] = rules
    return found


def widened_operations() -> dict[str, list[str]]:
    """operationId -> the statuses schemathesis.toml accepts for schema-valid data there."""
    widened = {}
    for entry in CONFIG.get("operations", []):
        statuses = (entry.get("checks", {}).get("positive_data_acceptance", {})
                    .get("expected-statuses"))
        if statuses is not None:
            assert set(entry) == {"include-operation-id", "checks"}, entry
            widened[entry["include-operation-id"]] = statuses
    return widened


def test_every_widening_stands_for_rules_named_in_the_spec():
    rules = operations_with_rules()
    widened = widened_operations()
    assert widened, "schemathesis.toml widens nothing: then this test has nothing to check"
    unexplained = sorted(set(widened) - set(rules))
    assert not unexplained, f"widened without a rule in the spec's 422 response: {unexplained}"
    for operation_id, statuses in widened.items():
        # Exactly Schemathesis' default, plus the 422 of the rules.
        assert sorted(statuses) == sorted([*DEFAULT, "422"]), (operation_id, statuses)


def test_every_operation_with_rules_is_widened_for_them():
    assert sorted(operations_with_rules()) == sorted(widened_operations())


def test_each_rule_is_named_in_the_response_description_and_the_toml():
    toml_text = (ROOT / "schemathesis.toml").read_text()
    for operation_id, rules in operations_with_rules().items():
        for item in SPEC["paths"].values():
            for method, operation in item.items():
                if method in METHODS and operation.get("operationId") == operation_id:
                    description = _resolve(operation["responses"]["422"])["description"]
        for rule in rules:
            assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule), rule
            assert f"`{rule}`" in description, (operation_id, rule)
            assert rule in toml_text, (operation_id, rule)


def test_no_other_check_is_loosened():
    for entry in CONFIG.get("operations", []):
        assert set(entry.get("checks", {})) <= {"positive_data_acceptance"}, entry
    assert "checks" not in CONFIG or set(CONFIG["checks"]) <= {"positive_data_acceptance"}


def _parameters():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                for parameter in item.get("parameters", []) + operation.get("parameters", []):
                    yield path, method, _resolve(parameter)


def test_every_text_parameter_declares_that_a_nul_is_refused():
    """PayDock refuses a NUL anywhere in the URL (400): no stored text holds one. Every
    string parameter of a path or query says so in its schema, so that a NUL there is
    generated as invalid data, never as valid."""
    checked = 0
    for path, method, parameter in _parameters():
        schema = _resolve(parameter.get("schema", {}))
        if parameter["in"] not in ("path", "query") or schema.get("type") != "string":
            continue
        checked += 1
        where = (method, path, parameter["name"])
        if schema.get("format") in ("date", "date-time") and "pattern" not in schema:
            continue  # no date holds a NUL
        if "enum" in schema:
            assert all("\x00" not in value for value in schema["enum"]), where
        else:
            assert "pattern" in schema, f"{where}: a string parameter without a pattern"
            assert re.search(schema["pattern"], "CRM\x00") is None, where
            assert re.search(schema["pattern"], "\x00") is None, where
    assert checked >= 10


CONTROL_PROBES = ("\x00", "\x01", "\x1f", "\x7f", "\ufffe")


def _body_strings():
    """Every string schema a request body can hold, with where it was found."""
    seen: set[int] = set()

    def walk(node, where):
        if isinstance(node, dict):
            if id(node) in seen:
                return
            seen.add(id(node))
            if "$ref" in node:
                yield from walk(_resolve(node), node["$ref"])
            if node.get("type") == "string":
                yield where, node
            for key, value in node.items():
                if key == "properties":
                    for name, schema in value.items():
                        yield from walk(schema, f"{where}/properties/{name}")
                elif key not in ("example", "examples", "default", "description", "enum"):
                    yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{where}/{index}")

    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in METHODS and "requestBody" in operation:
                for media in operation["requestBody"].get("content", {}).values():
                    yield from walk(media.get("schema", {}), f"{method} {path}")


def test_every_body_string_declares_the_stored_text_rule():
    """PayDock refuses control characters in every string of every JSON body (the `Text` rule,
    422). Each string schema says so itself, with the `Text` pattern or a stricter one, so
    that such text is generated as invalid data, never as valid."""
    text = _resolve({"$ref": "#/components/schemas/Text"})["pattern"]
    checked = 0
    for where, schema in _body_strings():
        checked += 1
        if "enum" in schema or schema.get("format") in ("uuid", "date", "date-time", "binary"):
            continue
        assert "pattern" in schema, f"{where}: a body string without a pattern"
        pattern = schema["pattern"]
        if pattern == text:
            continue
        samples = [str(schema.get("example", "a"))]
        for sample in samples:
            for probe in CONTROL_PROBES:
                for candidate in (sample + probe, probe + sample, probe):
                    assert re.search(pattern, candidate) is None, (where, pattern, candidate)
    assert checked >= 30


EMAIL_SAMPLES = ("info@acme.nl", "jan.de.vries+facturen@sub.voorbeeld.co.uk", "o'brien@example.ie", "a@b",
                 "a@b.", "a@.b", "a@b..nl", "a" * 64 + "@b.nl", "a" * 65 + "@b.nl",
                 "\u00fa\u00be@\u0092\u00a3", "a b@c.nl", "a@b@c.nl", "@b.nl", "a@", "a\t@b.nl",
                 "a@b.nl\r\nBcc: x@y.nl", "a@b\ufffe.nl")


def test_every_email_field_says_exactly_which_addresses_are_accepted():
    """An `email` field's `pattern` is the rule PayDock applies (paydock.validation.EMAIL), and
    no `format: email` stands beside it: validators disagree on that format, so Schemathesis
    generated addresses as invalid that PayDock rightly accepted."""
    from paydock.validation import EMAIL

    found = 0
    for where, schema in _body_strings():
        if not where.endswith("/properties/email"):
            continue
        found += 1
        assert "format" not in schema, where
        for sample in EMAIL_SAMPLES:
            expected = bool(EMAIL.match(sample)) and "\ufffe" not in sample
            assert bool(re.search(schema["pattern"], sample)) == expected, (where, sample)
    assert found >= 4
