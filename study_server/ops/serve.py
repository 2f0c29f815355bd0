"""Running the server: gunicorn workers (engine created after fork) or the Flask dev server."""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from stylestudy.errors import UserError

__all__ = ["GunicornServer", "prepare_database", "run_dev", "run_gunicorn"]


def prepare_database() -> None:
    """Migrate the configured database once, before any worker starts; a database that
    cannot be reached, created or read is a ``UserError`` naming it (password hidden)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from stylestudy import config
    from stylestudy.db.engine import make_engine
    from stylestudy.db.migrate import upgrade

    url = config.database_url()
    try:
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # workers open their own connections after the fork
    except (DBAPIError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        shown = make_url(url).render_as_string(hide_password=True)
        raise UserError(f"cannot use the database {shown}: {reason}") from None


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("stylestudy.requests")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class GunicornServer(BaseApplication):
    """gunicorn without a config file; each worker builds its own app (no ``--preload``),
    so no pooled database connection crosses a fork."""

    def __init__(self, options: dict[str, Any], app_config: dict[str, Any] | None = None):
        self.options = options
        self.app_config = app_config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from stylestudy.study_server.app import create_app

        _log_to_stderr()
        return create_app(self.app_config)


def run_gunicorn(host: str, port: int, workers: int, threads: int = 4,
                 app_config: dict[str, Any] | None = None) -> None:
    """gthread workers that buffer each request before a thread takes it (slow clients
    hold no thread), and no control socket (gunicorn's default path is one per user, so
    servers of one user would share it); signals to the master do what it would."""
    from stylestudy.study_server.ops.request_buffer import BufferingWorker, request_timeout

    request_timeout()  # a bad STYLESTUDY_REQUEST_TIMEOUT stops here, not in every worker
    GunicornServer({"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                    "worker_class": BufferingWorker, "timeout": 60, "graceful_timeout": 10,
                    "keepalive": 5, "preload_app": False, "accesslog": None,
                    "control_socket_disable": True},
                   {"DB_POOL_SIZE": threads, "WORKERS": workers, **(app_config or {})}).run()


def run_dev(host: str, port: int) -> None:
    """The Flask development server (threaded, no debugger, cookies allowed over http)."""
    from stylestudy.study_server.app import create_app

    _log_to_stderr()
    create_app({"SESSION_COOKIE_SECURE": False}).run(host=host, port=port, threaded=True,
                                                     debug=False, use_reloader=False)
