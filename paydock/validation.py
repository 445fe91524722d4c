"""Request and response validation against the spec: exact-decimal multipleOf, bodies read
defensively, one cached jsonschema validator per schema, errors as `errors[]`."""

from __future__ import annotations

import codecs
import copy
import json
import re
from decimal import Decimal

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, UnsupportedMediaTypeProblem
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator
from connexion.utils import is_null, is_nullable
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    JSONResponseBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators

from models.errors import Invalid


def _exact_multiple_of(validator, step, instance, schema):
    """multipleOf on exact decimals: 0.07 is a multiple of 0.01 (binary floats say no)."""
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    try:
        value = Decimal(repr(instance)) if isinstance(instance, float) else Decimal(instance)
        step_value = Decimal(repr(step))
        off_step = abs(value - (value / step_value).to_integral_value() * step_value)
        ok = value.is_finite() and off_step <= Decimal("1e-9")
    except ArithmeticError:
        ok = False
    if not ok:
        yield ValidationError(f"{instance} has more decimals than allowed (multiple of {step})")


def ecma_regex(pattern: str) -> str:
    """`pattern` with ECMA-262 end anchors, as JSON Schema means them.

    In Python an unescaped `$` (outside a character class) also matches just before a
    trailing newline, so `^[A-Z]{2}$` accepts "NL\\n"; in ECMA-262 (JavaScript, the
    dialect JSON Schema names) it matches only at the end of the text. Each such `$`
    becomes `\\Z`, which means exactly that in Python."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A `]` right after `[` or `[^` is a literal member of the class.
            ahead = 2 if pattern[i + 1:i + 2] == "^" else 1
            if pattern[i + ahead:i + ahead + 1] == "]":
                out.append(pattern[i:i + ahead + 1])
                i += ahead + 1
                continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return "".join(out)


_ECMA_PATTERNS: dict[str, re.Pattern] = {}


def _ecma_pattern(validator, pattern, instance, schema):
    """The `pattern` keyword with ECMA-262 semantics (see ecma_regex)."""
    if not validator.is_type(instance, "string"):
        return
    compiled = _ECMA_PATTERNS.get(pattern)
    if compiled is None:
        compiled = _ECMA_PATTERNS.setdefault(pattern, re.compile(ecma_regex(pattern)))
    if not compiled.search(instance):
        yield ValidationError(f"{instance[:80]!r} does not match {pattern!r}")


#: An e-mail address PayDock will put in a mail header: one `@`, no spaces or control
#: characters anywhere (a CR/LF would let a header be injected), at most 254 characters.
EMAIL = re.compile(r"[^\x00-\x20\x7f@]{1,64}@[^\x00-\x20\x7f@.]+(\.[^\x00-\x20\x7f@.]+)*\Z")
FORMATS = FormatChecker()
FORMATS.checkers = dict(Draft4Validator.FORMAT_CHECKER.checkers)


@FORMATS.checks("email")
def _email(instance) -> bool:
    return not isinstance(instance, str) or (len(instance) <= 254 and bool(EMAIL.match(instance)))


class SchemaValidators:
    """One jsonschema validator per schema of the spec, built on first use.

    Connexion builds a new validator (and its reference resolver) for every body and
    every parameter of every request, which cost more than the rest of a request's
    validation. The schemas are the spec's own objects and never change, so a validator
    is kept per schema object (held here, so its id is never reused)."""

    def __init__(self, make) -> None:
        self._make = make
        self._built: dict[int, tuple[dict, object]] = {}

    def __call__(self, schema: dict):
        entry = self._built.get(id(schema))
        if entry is None or entry[0] is not schema:
            entry = (schema, self._make(schema))
            self._built[id(schema)] = entry
        return entry[1]


KEYWORDS = {"multipleOf": _exact_multiple_of, "pattern": _ecma_pattern}
BodySchemaValidator = validators.extend(Draft4RequestValidator, KEYWORDS)
BODY_VALIDATORS = SchemaValidators(lambda schema: BodySchemaValidator(schema, format_checker=FORMATS))
ResponseSchemaValidator = validators.extend(Draft4ResponseValidator, KEYWORDS)
RESPONSE_VALIDATORS = SchemaValidators(
    lambda schema: ResponseSchemaValidator(schema, format_checker=FORMATS))
ParameterSchemaValidator = validators.extend(Draft4Validator, KEYWORDS)
PARAMETER_VALIDATORS = SchemaValidators(
    lambda param: ParameterSchemaValidator(copy.deepcopy(param.get("schema", param)),
                                           format_checker=FORMATS))


def _specific(error: ValidationError) -> ValidationError:
    """For a value that matches none of an `anyOf`'s schemas, the error that every one of them
    reports inside it (text a line's `description` may not hold: `lines.0.description`);
    otherwise the error about the whole value (`lines.0`)."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return error
    by_branch: dict[object, dict[tuple, ValidationError]] = {}
    for inner in error.context:
        found = by_branch.setdefault(inner.schema_path[0], {})
        if inner.validator not in GENERIC and len(inner.absolute_path) > len(error.absolute_path):
            found[tuple(inner.absolute_path)] = inner
    common = set.intersection(*(set(found) for found in by_branch.values()))
    if not common:
        return error
    return next(iter(by_branch.values()))[max(common, key=len)]


#: Errors that say a branch of an `anyOf` did not fit at all, rather than what is wrong inside.
GENERIC = frozenset({"required", "additionalProperties", "enum"})


def _field_path(error: ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path = f"{path}.{missing}" if path else missing
    if error.validator == "additionalProperties" and "'" in error.message:
        extra = error.message.split("'")[1]
        path = f"{path}.{extra}" if path else extra
    return path or "body"


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "unknown field"
    if error.validator == "required":
        return "is required"
    return error.message if len(error.message) < 300 else error.message[:297] + "..."


class BodyValidator(JSONRequestBodyValidator):
    """Reads a JSON body defensively and reports every schema violation as a 422 with `errors[]`.

    Whether a request has a body is decided by reading it, not from Content-Length: a body
    sent with `Transfer-Encoding: chunked` has no Content-Length and is a body all the same
    (it is counted against the size limit as it streams in). An empty body is no body: 400
    when the operation needs one; otherwise the operation gets the schema's default (or
    `{}`) as its JSON body, so a handler always receives a dict.

    A body needs `Content-Type: application/json` (charset UTF-8 if one is given):
    anything else, or none, is 415. Bodies that are not UTF-8, not JSON, nested deeper
    than Python's parser allows, or hold numbers too long to convert are 400. Text that
    no database can store (NUL characters, unpaired surrogates) is 422."""

    async def wrap_receive(self, receive, *, scope):
        content_type = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
        if content_type is not None:
            charset = re.search(rb"charset=\"?([^\";]+)", content_type, re.I)
            if charset and _codec_name(charset.group(1)) != "utf-8":
                raise UnsupportedMediaTypeProblem(detail="JSON request bodies must be UTF-8")
        raw = await _read_body(receive)
        if not raw:
            if self._required:
                raise BadRequestProblem("RequestBody is required")
            raw = json.dumps(self._schema.get("default", {})).encode()
            self._validate(json.loads(raw))
        elif content_type is None:
            raise UnsupportedMediaTypeProblem(
                detail="A request body needs Content-Type: application/json"
            )
        else:
            body = await self._parse(_once(raw), scope=scope)
            if not (body is None and self._nullable):
                self._validate(body)
        headers = [(k, v) for k, v in scope["headers"]
                   if k not in (b"content-length", b"transfer-encoding", b"content-type")]
        headers += [(b"content-type", content_type or b"application/json"),
                    (b"content-length", str(len(raw)).encode())]
        replay = iter([{"type": "http.request", "body": raw, "more_body": False}])

        async def receive_again():
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        return receive_again, {**scope, "headers": headers}

    async def _parse(self, stream, scope):
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestProblem(detail="The request body is not valid UTF-8") from None
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequestProblem(detail=f"The request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadRequestProblem(detail="The request body is nested too deeply") from None
        except ValueError:
            raise BadRequestProblem(detail="The request body holds a number too long to read") from None

    @property
    def _validator(self):
        return BODY_VALIDATORS(self._schema)

    def _validate(self, body):
        if body is None and not self._nullable:
            raise BadRequestProblem("Request body must not be empty")
        errors = sorted((_specific(e) for e in self._validator.iter_errors(body)),
                        key=lambda e: list(e.absolute_path))
        if errors:
            fields = [{"field": _field_path(e), "message": _message(e)} for e in errors[:50]]
            detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
            raise Invalid(detail, errors=fields)
        field = _unstorable_text(body)
        if field is not None:
            raise Invalid.field(field or "body", TEXT_RULE)
        return body


async def _read_body(receive) -> bytes:
    """The whole request body, however it was framed (the size limit applies as it streams)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise BadRequestProblem(detail="The client left before the request body was complete")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _once(raw: bytes):
    yield raw


#: Stored text (every string of a request body): any Unicode scalar value except the C0
#: control characters other than TAB, LF and CR, DEL, and the noncharacters U+FDD0-U+FDEF,
#: U+FFFE and U+FFFF; the spec's `Text` pattern says the same (a test compares them).
#: What is left is storable in both databases, valid in XML 1.0 (UBL) and printable.
FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
TEXT_RULE = ("must not contain control characters other than tab, line feed and carriage return "
             "(U+0000-U+001F, U+007F), unpaired surrogates or noncharacters (such as U+FFFE)")


def _unstorable_text(value, path: str = "") -> str | None:
    """The path of the first string (or key) that breaks the stored-text rule (FORBIDDEN_TEXT)."""
    if isinstance(value, str):
        return path if FORBIDDEN_TEXT.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _unstorable_text(key) is not None:
                return path
            found = _unstorable_text(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_text(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def _codec_name(label: bytes) -> str | None:
    try:
        return codecs.lookup(label.decode("ascii", "replace").strip()).name
    except LookupError:
        return None


class ResponseValidator(JSONResponseBodyValidator):
    """Response checks (tests) with the same exact-decimal multipleOf as requests."""

    @property
    def validator(self):
        return RESPONSE_VALIDATORS(self._schema)


class QueryValidator(ParameterValidator):
    """Parameter errors as one short line, `name: message`.

    Connexion's own check deep-copies the parameter and builds a new jsonschema validator
    for every parameter of every request; here each parameter keeps one."""

    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return f"Missing {parameter_type} parameter '{param['name']}'" if param.get("required") else None
        try:
            PARAMETER_VALIDATORS(param).validate(value)
        except ValidationError as exc:
            return f"{param['name']}: {exc.message}"
        return None

    @classmethod
    def for_operation(cls, parameters: list, *, uri_parser, strict_validation: bool = False,
                      security_query_params=None) -> QueryValidator:
        """The validator of an operation's parameters. Connexion makes one for every request;
        its parameters and settings never change, so each operation keeps the first it got
        (the URI parser it holds keeps no request's state)."""
        key = (id(parameters), strict_validation, tuple(security_query_params or ()))
        made = _QUERY_VALIDATORS.get(key)
        if made is None or made[0] is not parameters:
            made = (parameters, cls(parameters, uri_parser, strict_validation=strict_validation,
                                    security_query_params=security_query_params))
            _QUERY_VALIDATORS[key] = made
        return made[1]


#: (id of an operation's parameter list, settings) -> (that list, its QueryValidator).
_QUERY_VALIDATORS: dict[tuple, tuple[list, QueryValidator]] = {}


VALIDATORS = {
    **VALIDATOR_MAP,
    "parameter": QueryValidator.for_operation,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": BodyValidator}),
    "response": MediaTypeDict({**VALIDATOR_MAP["response"], "*/*json": ResponseValidator}),
}

