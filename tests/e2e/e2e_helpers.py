"""Real-process helpers: `stylestudy serve` (gunicorn) on a free loopback port, and Debian's
chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium (Playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("server did not become healthy")


@contextmanager
def serve(workers: int = 2, threads: int = 4, env: dict | None = None,
          port: int | None = None, log=None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`stylestudy serve --workers N` as a subprocess; yields (base URL, process)."""
    port = port or free_port()
    full_env = {**os.environ, "STYLESTUDY_REQUEST_LOG": "off", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from stylestudy.cli import main; main()", "serve",
         "--port", str(port), "--workers", str(workers), "--threads", str(threads)],
        env=full_env, stdout=log or subprocess.DEVNULL, stderr=log or subprocess.DEVNULL,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
