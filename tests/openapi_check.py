"""An independent check of PayDock's responses against openapi.yaml, with openapi-core.

Connexion validates responses too (`validate_responses=True` in the tests), but with the
same resolved spec and validators that serve the requests. openapi-core reads
openapi.yaml on its own and checks each response's status (documented for the operation),
headers (required ones present, every documented one of its schema) and body (content type
and schema). The test client in tests/conftest.py sends every response through `check`;
a mismatch fails the test that made the request.

Requests to paths or methods the spec does not have (a test of the 404/405 handling) have
no documented responses to compare with and are left out.
"""

from __future__ import annotations

import contextlib
import functools
import json
from contextvars import ContextVar
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import yaml
from jsonschema import ValidationError
from jsonschema.validators import extend
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.validation.response.exceptions import HeaderValidationError
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from openapi_schema_validator import OAS30ReadValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.server import ROOT

SPEC_PATH = ROOT / "openapi.yaml"
#: A request the spec has no operation for: nothing documented to compare its response with.
NOT_AN_OPERATION = (PathNotFound, OperationNotFound, ServerNotFound)


def _exact_multiple_of(validator, step, instance, schema):
    """multipleOf in decimal, as the spec means it: 132.23 is a multiple of 0.01, although
    132.23 / 0.01 in binary floating point is 13222.999999999998."""
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    if Decimal(repr(instance)) % Decimal(repr(step)) != 0:
        yield ValidationError(f"{instance} is not a multiple of {step}")


ReadValidator = extend(OAS30ReadValidator, {"multipleOf": _exact_multiple_of})


def _text(data: bytes | str, **parameters) -> str:
    """A text body (CSV, plain text), as the string its schema describes."""
    return data.decode() if isinstance(data, bytes) else data


def _xml_text(data: bytes | str, **parameters) -> str:
    """A well-formed XML document, as the string its schema describes."""
    ElementTree.fromstring(data)
    return data.decode() if isinstance(data, bytes) else data


@functools.cache
def spec() -> OpenAPI:
    """openapi.yaml as an openapi-core spec, built once per session (it takes seconds)."""
    # The document itself is checked by tests/contract (Redocly, openapi-spec-validator).
    config = Config(spec_validator_cls=None,
                    schema_validators_factory=SchemaValidatorsFactory(ReadValidator),
                    extra_media_type_deserializers={"application/problem+json": json.loads,
                                                    "application/xml": _xml_text,
                                                    "text/csv": _text, "text/plain": _text})
    return OpenAPI.from_file_path(str(SPEC_PATH), config=config)


class _Request:
    """An httpx request as openapi-core's Request protocol (only what finds the operation)."""

    def __init__(self, request: httpx.Request):
        url = urlsplit(str(request.url))
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.content_type = request.headers.get("content-type", "")
        try:
            self.body = request.content or None
        except httpx.RequestNotRead:  # a streamed body
            self.body = None
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
            # Only what werkzeug accepts (tests also send headers with line breaks on purpose).
            header=Headers([(k, v) for k, v in request.headers.items() if "\n" not in v + k]),
            cookie=ImmutableMultiDict(),
        )


class _Response:
    """An httpx response as openapi-core's Response protocol."""

    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))
        self.data = response.content


class ResponseMismatch(AssertionError):
    """A response that openapi.yaml does not describe."""


def mismatches(response: httpx.Response) -> list[str]:
    """What is wrong with `response` for its request's operation in openapi.yaml (empty: fine)."""
    request = _Request(response.request)
    errors = []
    try:
        for error in spec().iter_response_errors(request, _Response(response)):
            if isinstance(error, NOT_AN_OPERATION):
                return []
            cause = error.__cause__
            detail = [getattr(e, "message", str(e)) for e in getattr(cause, "schema_errors", ())]
            where = f" {error.name}" if isinstance(error, HeaderValidationError) else ""
            errors.append(f"{type(error).__name__}{where}: {error}"
                          + "".join(f"\n    {message}" for message in detail))
    except NOT_AN_OPERATION:
        return []
    return errors


_UNCHECKED: ContextVar[bool] = ContextVar("openapi_check_unchecked", default=False)


@contextlib.contextmanager
def outside_the_contract():
    """For a test that breaks PayDock on purpose (a simulated crash: 500, which no operation
    documents): the responses inside are not compared with openapi.yaml."""
    token = _UNCHECKED.set(True)
    try:
        yield
    finally:
        _UNCHECKED.reset(token)


def check(response: httpx.Response) -> httpx.Response:
    """`response`, or ResponseMismatch naming how it differs from openapi.yaml."""
    if _UNCHECKED.get():
        return response
    errors = mismatches(response)
    if errors:
        request = response.request
        raise ResponseMismatch(
            f"{request.method} {request.url.path} -> {response.status_code} does not match "
            f"openapi.yaml:\n  " + "\n  ".join(errors) + f"\n  body: {response.text[:500]}")
    return response


@functools.cache
def _event_validators() -> dict[str, object]:
    """Event type -> a validator of its delivery body, from openapi.yaml's `x-event-payloads`."""
    document = yaml.safe_load(SPEC_PATH.read_text())
    registry = Registry().with_resource(
        "urn:paydock:openapi", Resource.from_contents(document, default_specification=DRAFT4))
    validators = {}
    for event_type, schema in document.get("x-event-payloads", {}).items():
        reference = {"$ref": "urn:paydock:openapi" + schema["$ref"]}
        validators[event_type] = ReadValidator(reference, registry=registry,
                                               format_checker=OAS30ReadValidator.FORMAT_CHECKER)
    return validators


def event_mismatches(body: bytes | str | dict) -> list[str]:
    """What is wrong with a delivered webhook body for its event type's schema (empty: fine)."""
    event = json.loads(body) if isinstance(body, bytes | str) else body
    validator = _event_validators().get(event.get("type")) if isinstance(event, dict) else None
    if validator is None:
        return [f"no schema in openapi.yaml's x-event-payloads for event type {event.get('type')!r}"]
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(event)]
