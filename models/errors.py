"""Domain exceptions; paydock/problems.py turns each into an RFC 9457 problem response."""

from __future__ import annotations


class DomainError(Exception):
    """A request PayDock refuses; `status` and `title` make its problem response (400 here)."""

    status = 400
    title = "Bad Request"

    def __init_subclass__(cls, *, status: int | None = None, title: str | None = None, **kwargs) -> None:
        """`class NotFound(DomainError, status=404, title="Not Found")`; a subclass of a
        subclass keeps its parent's status and title unless it gives its own."""
        super().__init_subclass__(**kwargs)
        cls.status = cls.status if status is None else status
        cls.title = cls.title if title is None else title

    def __init__(self, detail: str, errors: list[dict] | None = None, *,
                 headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra
        #: Response headers that go with the problem, e.g. Retry-After.
        self.headers = headers or {}


class Invalid(DomainError, status=422, title="Unprocessable Content"):
    """The request is well-formed but breaks a rule."""

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class Unauthorized(DomainError, status=401, title="Unauthorized"):
    """No valid API key came with the request."""


class Forbidden(DomainError, status=403, title="Forbidden"):
    """The key is valid but lacks the scope the operation needs."""


class NotFound(DomainError, status=404, title="Not Found"):
    """The resource in the URL does not exist in the caller's administration."""


class Conflict(DomainError, status=409, title="Conflict"):
    """The resource's state does not allow the change (a status table, a number, a key)."""


class Unavailable(DomainError, status=503, title="Service Unavailable"):
    """A service PayDock depends on (the database, a payment provider) cannot answer now."""


class PayloadTooLarge(DomainError, status=413, title="Content Too Large"):
    """The request body is larger than the configured limit."""


class TooManyRequests(DomainError, status=429, title="Too Many Requests"):
    """The key's rate limit is used up; Retry-After says when to try again."""
