"""The error hierarchy.

Every error shipway raises on purpose is a :class:`ShipwayError`. Each subclass
carries the HTTP status it maps to and structured ``details`` so that the one
error handler in :mod:`shipway.server.errors` can answer
``{"error", "message", "details"}`` and the CLI can print one clear line.
Third-party errors are translated at the boundary with ``raise ... from e``.
"""

from __future__ import annotations

from typing import Any


class ShipwayError(Exception):
    """Root of every shipway error.

    ``code`` is a short machine-readable name (``"not_found"``), ``status`` the
    HTTP status, ``details`` a JSON-serialisable dict (field paths, limits...).
    """

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"error": self.code, "message": self.message, "details": self.details}


class BadRequest(ShipwayError):
    """The request is malformed: a bad parameter, body or name."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        details = kw.pop("details", None) or {}
        if field:
            details.setdefault("field", field)
        super().__init__(message, details=details, **kw)


class ValidationFailed(ShipwayError):
    """A document (YAML, manifest, config) has one or more errors.

    ``errors`` is a list of dicts with at least ``message`` and, when known,
    ``path`` (field path), ``file``, ``line`` and ``column``; every error is
    reported, not just the first.
    """

    status = 400
    code = "validation_failed"

    def __init__(self, message: str, errors: list[dict[str, Any]], *, status: int | None = None) -> None:
        super().__init__(message, details={"errors": errors}, status=status)
        self.errors = errors


class Unauthorized(ShipwayError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthorized"


class Forbidden(ShipwayError):
    """The caller is known but lacks the role the action needs."""

    status = 403
    code = "forbidden"


class NotFound(ShipwayError):
    """The named object does not exist."""

    status = 404
    code = "not_found"


class Conflict(ShipwayError):
    """The change conflicts with the current state (exists, CAS mismatch...)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ShipwayError):
    """The body or content exceeds a documented limit."""

    status = 413
    code = "payload_too_large"


class Unprocessable(ShipwayError):
    """Well-formed but semantically invalid (Kubernetes answers 422 here)."""

    status = 422
    code = "unprocessable"


class Unavailable(ShipwayError):
    """A dependency (ZooKeeper, Docker, registry, store) is not reachable."""

    status = 503
    code = "unavailable"


class ConfigurationError(ShipwayError):
    """Settings are invalid: a bad flag, env var or settings-file key.

    ``source`` says where the bad value came from (``--port``,
    ``SHIPWAY_PORT``, ``shipway.toml:3``).
    """

    status = 400
    code = "configuration_error"

    def __init__(self, message: str, *, source: str | None = None, **kw: Any) -> None:
        details = kw.pop("details", None) or {}
        if source:
            details["source"] = source
        super().__init__(f"{source}: {message}" if source else message, details=details, **kw)
