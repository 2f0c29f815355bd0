"""`stylestudy serve`: gunicorn or the Flask development server."""

from __future__ import annotations

import click

__all__ = ["commands"]


@click.command("serve")
@click.option("--dev", is_flag=True, help="Flask development server (one process).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes (ignored with --dev).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Threads per gunicorn worker.")
def serve_cmd(dev: bool, host: str, port: int, workers: int, threads: int) -> None:
    """Serve studies: gunicorn (production) or the Flask dev server (--dev)."""
    from stylestudy.study_server.ops.serve import prepare_database, run_dev, run_gunicorn

    prepare_database()  # migrate once in the master; workers connect after the fork
    if dev:
        run_dev(host, port)
    else:
        run_gunicorn(host, port, workers, threads)


commands: list = [serve_cmd]
