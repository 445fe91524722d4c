"""Work Connexion would repeat on every request is done once per operation (paydock/resolver.py)."""

from __future__ import annotations

from connexion.decorators.parameter import AsyncParameterDecorator
from connexion.uri_parsing import OpenAPIURIParser

from paydock.validation import QueryValidator


def test_each_operation_builds_its_handler_chain_and_uri_parser_once(tenant, monkeypatch):
    built = {"chain": 0, "parser": 0, "validator": 0}
    wrap_handler = AsyncParameterDecorator.__call__
    make_parser = OpenAPIURIParser.__init__
    make_validator = QueryValidator.__init__

    def counted_chain(self, function):
        built["chain"] += 1
        return wrap_handler(self, function)

    def counted_parser(self, *args, **kwargs):
        built["parser"] += 1
        make_parser(self, *args, **kwargs)

    def counted_validator(self, *args, **kwargs):
        built["validator"] += 1
        make_validator(self, *args, **kwargs)

    monkeypatch.setattr(QueryValidator, "__init__", counted_validator)
    monkeypatch.setattr(AsyncParameterDecorator, "__call__", counted_chain)
    monkeypatch.setattr(OpenAPIURIParser, "__init__", counted_parser)
    for limit in (1, 2, 3, 4, 5):
        listed = tenant.get(f"/api/contacts?limit={limit}")
        assert listed.status_code == 200 and listed.json()["data"] == []
    # At most once for the operation (none if an earlier test served it), where Connexion
    # alone builds the chain and the parameter validator for every request. Request
    # validation still makes a URI parser per request: one each.
    assert built["chain"] <= 1
    assert built["validator"] <= 1
    assert built["parser"] <= 5 + 1
