"""When a buffered request is complete (RFC 9112 §6.3 framing), and what it refuses."""

from __future__ import annotations

import pytest

from stylestudy.study_server.ops.request_buffer import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    Refused,
    request_length,
)

HEAD = b"POST /api/responses HTTP/1.1\r\nHost: x\r\n"


def grows(request: bytes) -> list[int | None]:
    """request_length of every prefix of ``request``."""
    return [request_length(request[:n]) for n in range(len(request) + 1)]


def test_no_body_is_complete_at_the_empty_line():
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    assert grows(req) == [None] * len(req) + [len(req)]
    assert request_length(req + b"GET /next") == len(req)  # pipelined bytes are not counted
    assert request_length(b"\r\n" + req) == len(req) + 2  # an empty line before it
    assert request_length(b"GET / HTTP/1.1\nHost: x\n\n") == 24  # bare LF: the parser decides


def test_content_length():
    req = HEAD + b"Content-Length: 5\r\n\r\nhello"
    assert grows(req) == [None] * len(req) + [len(req)]
    empty = HEAD + b"content-length:  0 \r\n\r\n"
    assert request_length(empty) == len(empty)


def test_chunked():
    req = HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
    assert grows(req) == [None] * len(req) + [len(req)]
    trailer = HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n\r\n"
    assert grows(trailer) == [None] * len(trailer) + [len(trailer)]
    # chunked wins over Content-Length (RFC 9112 §6.3 point 3)
    both = HEAD + b"Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert request_length(both) == len(both)


@pytest.mark.parametrize("head", [
    b"Content-Length: 5\r\nContent-Length: 6\r\n",  # conflicting lengths
    b"Content-Length: -5\r\n",
    b"Content-Length: five\r\n",
    b"Transfer-Encoding: gzip\r\n",  # a request coding that is not chunked last
])
def test_heads_the_parser_refuses_go_on_at_once(head):
    req = HEAD + head + b"\r\n"
    assert request_length(req) == len(req)


def test_malformed_chunk_size_goes_on_at_once():
    req = HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
    assert request_length(req) == len(req)


def test_limits():
    with pytest.raises(Refused) as exc:
        request_length(HEAD + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode())
    assert exc.value.status == 413
    assert request_length(HEAD + f"Content-Length: {MAX_BODY_BYTES}\r\n\r\n".encode()) is None
    big = f"{MAX_BODY_BYTES:x}\r\n".encode()
    with pytest.raises(Refused) as exc:
        request_length(HEAD + b"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n" + big)
    assert exc.value.status == 413
    with pytest.raises(Refused) as exc:
        request_length(HEAD + b"X: " + b"a" * MAX_HEAD_BYTES)
    assert exc.value.status == 431
    assert request_length(HEAD + b"X: " + b"a" * (MAX_HEAD_BYTES - 100)) is None
