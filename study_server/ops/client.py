"""A small keep-alive JSON client for the participant API (simulate, benchmarks, tests)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ApiClient"]


class ApiClient:
    """One participant's connection: JSON in and out, the bearer token once started."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.https = parts.scheme == "https"
        self.timeout = timeout
        self.token: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, retries: int = 3
                ) -> tuple[int, dict[str, Any]]:
        """(status, JSON body); transport failures are retried on a fresh connection.

        A failure that outlasts the retries (refused, reset, timed out, or a response
        cut short) raises `ConnectionError`, so callers handle one exception type.
        """
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        hdrs.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(retries + 1):
            try:
                conn = self._connection()
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                try:
                    out = json.loads(raw) if raw else {}
                except ValueError:
                    out = {"raw": raw.decode(errors="replace")}
                return resp.status, out
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == retries:
                    raise ConnectionError(f"{method} {path}: {exc!r}") from exc
                time.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")
