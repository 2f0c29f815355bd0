"""ApiClient against a real socket that cuts a response short."""

from __future__ import annotations

import socket
import threading

import pytest

from stylestudy.study_server.ops.client import ApiClient


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536)


def _truncating_server(replies: list[bytes]) -> tuple[int, threading.Thread]:
    """Serve one canned reply per connection, then close; returns (port, thread)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def run():
        with srv:
            for reply in replies:
                conn, _ = srv.accept()
                with conn:
                    _read_request(conn)  # all of it: unread bytes would turn close into a reset
                    conn.sendall(reply)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv.getsockname()[1], t


HEAD = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
CUT = b"HTTP/1.1 200 OK\r\n" + HEAD % 50 + b'{"ok"'
WHOLE = b"HTTP/1.1 201 Created\r\n" + HEAD % 11 + b'{"ok":true}'


def test_cut_response_raises_connection_error():
    port, t = _truncating_server([CUT])
    c = ApiClient(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(ConnectionError, match="IncompleteRead"):
        c.request("POST", "/api/responses", {"x": 1}, retries=0)
    t.join(5)


def test_cut_response_is_retried_on_a_fresh_connection():
    port, t = _truncating_server([CUT, WHOLE])
    c = ApiClient(f"http://127.0.0.1:{port}", timeout=5)
    assert c.request("POST", "/api/responses", {"x": 1}, retries=1) == (201, {"ok": True})
    t.join(5)
