"""/openapi.json and /api/openapi.json serve openapi.yaml itself, as JSON: its `components`
and every `$ref` intact, not the copy with references inlined that the framework builds."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.server import ROOT

SPEC_JSON = yaml.safe_load((ROOT / "openapi.yaml").read_text())


def _refs(node) -> int:
    if isinstance(node, dict):
        return ("$ref" in node) + sum(_refs(value) for value in node.values())
    if isinstance(node, list):
        return sum(_refs(value) for value in node)
    return 0


@pytest.mark.parametrize("path", ["/api/openapi.json", "/openapi.json"])
def test_served_document_is_openapi_yaml_as_json(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == SPEC_JSON
    assert _refs(response.json()) == _refs(SPEC_JSON) > 100
    assert set(response.json()["components"]["schemas"]) == set(SPEC_JSON["components"]["schemas"])
    # Within 5 % of the YAML's own JSON form (it was 5x larger with every reference inlined).
    own_size = len(json.dumps(SPEC_JSON, ensure_ascii=False).encode())
    assert abs(len(response.content) - own_size) <= 0.05 * own_size
    assert response.headers["content-length"] == str(len(response.content))


def test_served_document_carries_the_usual_headers(client):
    response = client.get("/openapi.json")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-request-id" in response.headers
    head = client.head("/api/openapi.json")
    assert head.status_code == 200 and head.content == b""


def test_other_methods_on_the_document_are_not_served_by_it(client):
    assert client.post("/api/openapi.json").status_code in (404, 405)
