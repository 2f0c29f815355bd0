"""The study server's refusals (``ApiError``) and the app's error handlers: every error on
``/api/`` and ``/healthz`` is a JSON body with a stable ``error`` code and a ``message``."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import BadRequest, HTTPException, default_exceptions

__all__ = ["ApiError", "register_error_handlers"]

#: paths whose errors are JSON (the rest are Flask's HTML pages)
JSON_PATHS = ("/api/", "/healthz")


class ApiError(Exception):
    """A request the server refuses: HTTP status, a stable error code, a message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


def register_error_handlers(app: Flask) -> None:
    """``ApiError`` and HTTP errors as JSON under ``JSON_PATHS`` (HTML pages elsewhere); a value the
    database cannot hold as 400; an unavailable database as 503 with ``Retry-After``."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int] | HTTPException:
        if request.path.startswith(JSON_PATHS):
            return jsonify(exc.body()), exc.status
        return default_exceptions[exc.status](exc.message)  # an HTML page (the admin's)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int] | HTTPException:
        if request.path.startswith(JSON_PATHS):
            return jsonify({"error": (exc.name or "error").lower().replace(" ", "_"),
                            "message": exc.description}), exc.code or 500
        return exc

    @app.errorhandler(DataError)
    def _bad_value(exc: DataError) -> tuple[Response, int] | HTTPException:
        # A value the database cannot hold (text with a NUL): retrying cannot help.
        return _http_error(BadRequest("a value in the request cannot be used"))

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _db_busy(exc: Exception) -> tuple[Response, int]:
        # Lock timeouts, a database restart: nothing was stored, so the client retries.
        app.logger.warning("database unavailable: %s: %s", exc.__class__.__name__,
                           str(exc).splitlines()[0][:300])
        resp = jsonify({"error": "busy", "message": "the server is busy; try again"})
        resp.headers["Retry-After"] = "1"
        return resp, 503
