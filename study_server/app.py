"""The Flask app factory: participant pages, the JSON API, the admin, images, /healthz."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Request, Response, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from stylestudy import config as ss_config
from stylestudy.errors import UserError
from stylestudy.study_server.errors import JSON_PATHS, register_error_handlers
from stylestudy.study_server.guide import views as guide
from stylestudy.study_server.web import admin, api, dbsession, participant
from stylestudy.study_server.web.limits import init_limits, storage_options
from stylestudy.study_server.web.request_log import RequestLog
from stylestudy.study_server.web.security import api_headers

__all__ = ["create_app"]


def _env_count(name: str, default: int) -> int:
    """A whole number >= 0 from the environment; anything else is one clear error."""
    raw = os.environ.get(name, str(default)).strip()
    if not raw.isascii() or not raw.isdigit():
        raise UserError(f"{name} must be a whole number >= 0, got {raw!r}")
    return int(raw)


def default_config() -> dict[str, Any]:
    """Settings from the environment (``STYLESTUDY_*``); ``create_app`` overrides win."""
    secret = ss_config.secret_key()
    env = os.environ
    return {
        "DATABASE_URL": ss_config.database_url(),
        "SECRET": secret,
        "SECRET_KEY": secret + b":flask-session",
        "START_LIMIT": env.get("STYLESTUDY_START_LIMIT", "60/minute"),
        "RESPONSE_LIMIT": env.get("STYLESTUDY_RESPONSE_LIMIT", "600/minute"),
        "LOGIN_LIMIT": env.get("STYLESTUDY_LOGIN_LIMIT", "10/minute"),
        # open sessions of a study per client address (0: none); counted in the database
        "OPEN_PER_ADDRESS": _env_count("STYLESTUDY_OPEN_PER_ADDRESS", 4),
        "RATELIMIT_ENABLED": env.get("STYLESTUDY_RATELIMIT", "on") != "off",
        "RATELIMIT_STORAGE_URI": env.get("STYLESTUDY_RATELIMIT_STORAGE", "memory://"),
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,  # a dead Redis must not refuse anyone
        "WORKERS": 1,  # processes serving the app; `stylestudy serve` sets it
        "RATELIMIT_KEY_PREFIX": env.get("STYLESTUDY_RATELIMIT_PREFIX", "stylestudy"),
        "PROXIES": int(env.get("STYLESTUDY_PROXIES", "0")),
        "SESSION_COOKIE_SECURE": env.get("STYLESTUDY_INSECURE_COOKIES", "") != "1",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REQUEST_LOG": env.get("STYLESTUDY_REQUEST_LOG", "on") != "off",
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }


class _DatabaseId(IntegerConverter):
    """``<int:…>`` in a route: at most a 64-bit integer (larger ids match nothing, 404,
    instead of overflowing the database driver)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


class _CookielessApi(SecureCookieSessionInterface):
    """The participant API authenticates by bearer token: its requests open no cookie
    session (which would cost a signature check per response)."""

    def open_session(self, app: Flask, req: Request):
        if req.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, req)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; no database connection is made until the first request."""
    app = Flask(__name__)
    app.config.update(default_config())
    app.config.update(config or {})
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS",
                          storage_options(app.config["RATELIMIT_STORAGE_URI"]))
    app.json.sort_keys = False
    app.url_map.converters["int"] = _DatabaseId
    app.session_interface = _CookielessApi()
    if app.config["PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXIES"],
                                x_proto=app.config["PROXIES"], x_host=app.config["PROXIES"])
    if app.config["REQUEST_LOG"]:
        app.wsgi_app = RequestLog(app.wsgi_app)
    dbsession.init_app(app)
    init_limits(app)
    app.register_blueprint(participant.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(guide.bp)

    @app.get("/healthz")
    def healthz() -> Response:
        dbsession.get_db().execute(text("SELECT 1"))
        return jsonify({"ok": True})

    @app.after_request
    def _json_headers(resp: Response) -> Response:
        return api_headers(resp) if request.path.startswith(JSON_PATHS) else resp

    register_error_handlers(app)
    return app
