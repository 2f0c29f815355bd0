"""Where stylestudy keeps its data: home folder, database URL, secrets."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

HOME_ENV = "STYLESTUDY_HOME"
DATABASE_ENV = "STYLESTUDY_DATABASE_URL"
DEFAULT_HOME = "stylestudy_data"


def home() -> Path:
    """The stylestudy home folder (``STYLESTUDY_HOME``, default ``./stylestudy_data``)."""
    return Path(os.environ.get(HOME_ENV, DEFAULT_HOME)).expanduser().resolve()


def database_url() -> str:
    """``STYLESTUDY_DATABASE_URL`` or SQLite at ``<home>/stylestudy.sqlite3``."""
    url = os.environ.get(DATABASE_ENV)
    if url:
        return url
    return f"sqlite:///{home() / 'stylestudy.sqlite3'}"


def assets_dir() -> Path:
    return home() / "assets"


def secret_key() -> bytes:
    """Server secret for keyed hashes and signing; ``STYLESTUDY_SECRET`` or a file in home."""
    env = os.environ.get("STYLESTUDY_SECRET")
    if env:
        return env.encode()
    path = home() / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic: first writer wins
        tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode()
