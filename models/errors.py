"""Domain exceptions; paydock/problems.py turns each into an RFC 9457 problem response."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, errors: list[dict] | None = None, *,
                 headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra
        #: Response headers that go with the problem, e.g. Retry-After.
        self.headers = headers or {}


class Invalid(DomainError):
    """The request is well-formed but breaks a rule (422)."""

    status = 422
    title = "Unprocessable Content"

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not Found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Unavailable(DomainError):
    status = 503
    title = "Service Unavailable"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Content Too Large"


class TooManyRequests(DomainError):
    status = 429
    title = "Too Many Requests"
