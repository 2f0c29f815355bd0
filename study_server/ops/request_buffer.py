"""gunicorn's gthread worker with request buffering: a thread gets a connection only once
its whole request (head and body) has arrived.

gthread hands a connection to a thread as soon as it is readable, and the thread then reads
the request with blocking calls, so a client that sends its body at one byte a second holds
a thread for as long as it likes; a few such clients hold them all. Here the worker's event
loop reads each request without blocking, as nginx buffers requests in front of an
application server (``proxy_request_buffering``), and only a complete request reaches the
thread pool. A request that is not complete within ``timeout`` seconds is answered 408, a
head over ``MAX_HEAD_BYTES`` 431 and a body over ``MAX_BODY_BYTES`` 413, all without a
thread. TLS connections (gunicorn's own ``certfile``) are passed through unbuffered.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import time
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

from stylestudy.errors import UserError

__all__ = ["MAX_BODY_BYTES", "MAX_HEAD_BYTES", "BufferingWorker", "request_length",
           "request_timeout"]

#: longest request head buffered (gunicorn's own limits allow about 800 KiB)
MAX_HEAD_BYTES = 64 * 1024
#: longest request body buffered (the app refuses bodies over 64 KiB itself)
MAX_BODY_BYTES = 1024 * 1024
#: seconds a request may take to arrive whole, unless ``STYLESTUDY_REQUEST_TIMEOUT`` says
DEFAULT_TIMEOUT_S = 30.0

_REASONS = {408: "Request Timeout", 413: "Request Entity Too Large",
            431: "Request Header Fields Too Large"}


def request_timeout() -> float:
    """Seconds a request may take to arrive whole: ``STYLESTUDY_REQUEST_TIMEOUT`` or 30."""
    raw = os.environ.get("STYLESTUDY_REQUEST_TIMEOUT")
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < 3600:
        raise UserError(f"STYLESTUDY_REQUEST_TIMEOUT must be seconds in (0, 3600), got {raw!r}")
    return value


class Refused(Exception):
    """The request cannot be buffered; ``status`` says why (413 or 431)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _head_end(buf: bytes | bytearray) -> tuple[int, int] | None:
    """(end of the head, start of the body), or None while the head is incomplete."""
    start = 0
    while buf.startswith(b"\r\n", start):  # empty lines before the request line
        start += 2
    ends = [(i, i + len(sep)) for sep in (b"\r\n\r\n", b"\n\n")
            if (i := buf.find(sep, start)) >= 0]
    return min(ends) if ends else None


def _chunked_length(buf: bytes | bytearray, pos: int) -> int | None:
    """Length of a request whose chunked body starts at ``pos``; None while incomplete.

    A malformed chunk size ends the walk as complete: the parser behind answers 400."""
    body = 0
    while True:
        eol = buf.find(b"\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:  # a chunk-size line this long is malformed
                return len(buf)
            return None
        try:
            size = int(buf[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return len(buf)
        body += size
        if body > MAX_BODY_BYTES:
            raise Refused(413)
        if size == 0:  # trailer fields, then an empty line
            return _trailers_end(buf, eol + 1)
        pos = eol + 1 + size + 2
        if pos > len(buf):
            return None


def _trailers_end(buf: bytes | bytearray, pos: int) -> int | None:
    for sep in (b"\r\n", b"\n"):
        if buf.startswith(sep, pos):
            return pos + len(sep)
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := buf.find(sep, pos)) >= 0]
    return min(ends) if ends else None


def request_length(buf: bytes | bytearray) -> int | None:
    """Bytes of the first HTTP/1.x request in ``buf`` once all of it is there, else None.

    Framing follows RFC 9112 §6.3: ``Transfer-Encoding`` (chunked last) before
    ``Content-Length``, no body without either. Heads the parser behind must refuse
    (conflicting or malformed lengths, other transfer codings) count as complete at once,
    so that it answers them. Raises ``Refused`` for a head or body over the limits.
    """
    end = _head_end(buf)
    if end is None:
        if len(buf) > MAX_HEAD_BYTES:
            raise Refused(431)
        return None
    head_end, body_start = end
    if head_end > MAX_HEAD_BYTES:
        raise Refused(431)
    lengths, codings = set(), []
    for line in bytes(buf[:head_end]).split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            lengths.add(value.strip())
        elif name == b"transfer-encoding":
            codings += [c.strip().lower() for c in value.split(b",")]
    if codings:
        return _chunked_length(buf, body_start) if codings[-1] == b"chunked" else body_start
    if not lengths:
        return body_start
    if len(lengths) > 1 or not next(iter(lengths)).isdigit():
        return body_start
    size = int(next(iter(lengths)))
    if size > MAX_BODY_BYTES:
        raise Refused(413)
    return body_start + size if len(buf) >= body_start + size else None


def _expects_continue(head: bytes) -> bool:
    return any(line.partition(b":")[0].strip().lower() == b"expect"
               and line.partition(b":")[2].strip().lower() == b"100-continue"
               for line in head.split(b"\n")[1:])


def _answer(status: int) -> bytes:
    reason = _REASONS[status]
    body = json.dumps({"error": reason.lower().replace(" ", "_"),
                       "message": "the request could not be read"}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class BufferingWorker(ThreadWorker):
    """gthread whose event loop buffers each request until it is complete."""

    def init_process(self) -> None:
        self.timeout_s = request_timeout()
        self.buffering: dict = {}  # connection -> deadline
        super().init_process()

    def enqueue_req(self, conn) -> None:
        """Called for every request a connection brings: new, kept alive, or read ahead
        by the previous request's parser. Buffers it until complete, then hands it on."""
        if self.cfg.is_ssl or conn.is_http2:
            super().enqueue_req(conn)
            return
        conn.sock.setblocking(False)
        conn.held = bytearray(conn.parser.unreader.take_buffered() if conn.parser else b"")
        conn.watched = conn.continued = False
        self.buffering[conn] = time.monotonic() + self.timeout_s
        self._pump(conn)

    def _pump(self, conn, _sock=None) -> None:
        """Read what has arrived until the request is complete (hand it to a thread),
        refused, or waiting for more (in the poller)."""
        while True:
            try:
                length = request_length(conn.held)
            except Refused as exc:
                self._watch(conn, False)
                self._refuse(conn, exc.status)
                return
            if length is not None:
                self._watch(conn, False)
                del self.buffering[conn]
                conn.prefix, conn.held = bytes(conn.held), None
                super().enqueue_req(conn)
                return
            self._continue_if_expected(conn)
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                self._watch(conn, True)
                return
            except OSError:
                data = b""
            if not data:  # the client went away
                self._watch(conn, False)
                self._drop(conn)
                return
            conn.held += data

    def _watch(self, conn, on: bool) -> None:
        if on != conn.watched:
            if on:
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._pump, conn))
            else:
                self.poller.unregister(conn.sock)
            conn.watched = on

    def _continue_if_expected(self, conn) -> None:
        """Answer ``Expect: 100-continue`` once the head is in, so the client sends its body."""
        if conn.continued:
            return
        end = _head_end(conn.held)
        if end and _expects_continue(bytes(conn.held[:end[0]])):
            conn.continued = True
            self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")

    def handle(self, conn):
        prefix = getattr(conn, "prefix", None)
        if prefix is not None:  # in the thread: the parser reads the buffered request
            conn.prefix = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(prefix)
        return super().handle(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, deadline in self.buffering.items() if deadline <= now]:
            self._watch(conn, False)
            self._refuse(conn, 408)

    def _send(self, conn, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(data)  # a few bytes into an empty socket buffer

    def _refuse(self, conn, status: int) -> None:
        self._send(conn, _answer(status))
        try:  # read what arrived meanwhile (a little), so that closing sends FIN, not RST
            for _ in range(16):
                if not conn.sock.recv(65536):
                    break
        except OSError:
            pass
        self._drop(conn)

    def _drop(self, conn) -> None:
        self.buffering.pop(conn, None)
        self.nr_conns -= 1
        conn.close()
