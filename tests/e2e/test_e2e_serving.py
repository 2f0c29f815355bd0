"""`stylestudy serve` as a real gunicorn: slow clients hold no thread, and each server
keeps its own (here: no) control socket."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from stylestudy.db.engine import get_engine
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study.studies import create_study
from tests.e2e.e2e_helpers import serve
from tests.study_server.study_helpers import make_comparison_set, spec

pytestmark = pytest.mark.slow

#: what the slow connections announce: a body they send one byte a second
SLOW_BODY = 1000


def slow_post(port: int, seen: dict, key: int, stop: threading.Event, lead: bytes = b"") -> None:
    """A POST (after ``lead``, a complete request sent with it) whose head arrives at once
    and whose body then trickles at 1 byte/s; records the status lines the server sent
    until it ended the connection, and when."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(lead + b"POST /api/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\n"
                  + f"Content-Length: {SLOW_BODY}\r\n\r\n".encode())
        s.settimeout(1.0)  # paces the trickle: one byte, then up to 1 s for an answer
        started, got = time.monotonic(), b""
        for _ in range(SLOW_BODY):
            if stop.is_set():
                return
            try:
                s.sendall(b" ")
                data = s.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            got += data
        seen[key] = (re.findall(rb"HTTP/1.1 (\d{3})", got), time.monotonic() - started)


def timed_get(url: str, deadline: float) -> float:
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=deadline) as r:
        assert r.status == 200
    return time.monotonic() - t0


def test_slow_bodies_starve_nothing(home):
    """Eight connections send a body at 1 byte/s to a server started as `stylestudy serve`
    starts it (2 workers × 4 threads: one slow connection per thread). Meanwhile /healthz
    and a participant's response must answer within DEADLINE (a functional deadline, not a
    timing benchmark: a starved server answers only when the slow bodies end, here after
    1000 s); the slow connections are answered 408 when STYLESTUDY_REQUEST_TIMEOUT runs out."""
    deadline, request_timeout = 1.0, 8
    engine = get_engine()
    make_comparison_set(engine)
    create_study(spec(), engine)
    env = {"STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"],
           "STYLESTUDY_REQUEST_TIMEOUT": str(request_timeout)}
    with serve(workers=2, threads=4, env=env) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        participant = ApiClient(url, timeout=deadline)
        status, body = participant.request("POST", "/api/studies/s1/sessions",
                                           {"consent": True}, retries=0)
        assert status == 201, body
        participant.token = body["token"]
        _, state = participant.request("GET", "/api/session", retries=0)
        participant.close()
        for _ in range(8):  # both workers and their threads have served a request
            timed_get(f"{url}/healthz", 10)

        seen: dict[int, tuple[str, float]] = {}
        stop = threading.Event()
        # half of them first send a complete request in the same packet: the thread that
        # answers it must not be left reading the slow one behind it
        lead = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        slow = [threading.Thread(target=slow_post, args=(port, seen, k, stop, lead * (k % 2)),
                                 daemon=True) for k in range(8)]
        for t in slow:
            t.start()
        time.sleep(2.5)  # every slow connection is open and has sent a few bytes
        try:
            waits = [timed_get(f"{url}/healthz", deadline) for _ in range(6)]
            t0 = time.monotonic()
            status, out = participant.request("POST", "/api/responses", {
                "response_id": "6f1c1c8e-8d0a-4e57-9a51-1c1f8e7d2a10",
                "trial": state["trials"][0]["id"], "choice": "left", "rt_ms": 900}, retries=0)
            waits.append(time.monotonic() - t0)
            assert status == 201, out
            assert not seen, seen  # the slow connections were still open throughout
        finally:
            end = time.monotonic() + request_timeout + 5
            for t in slow:
                t.join(timeout=max(0.0, end - time.monotonic()))
            stop.set()
        assert max(waits) < deadline
        # each slow connection was cut off after the request timeout, with a 408
        assert {k: statuses for k, (statuses, _) in seen.items()} == {
            k: [b"200", b"408"] if k % 2 else [b"408"] for k in range(8)}
        assert all(request_timeout - 1 <= took <= request_timeout + 3
                   for _, took in seen.values()), seen
        timed_get(f"{url}/healthz", 10)


def unix_sockets(pid: int) -> set[str]:
    """Paths of the Unix sockets process ``pid`` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    paths = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8 and parts[6] in inodes:
            paths.add(parts[7])
    return paths


def test_two_servers_share_no_control_socket(home, tmp_path):
    """Two servers under one user: neither sees nor removes the other's control socket
    (gunicorn's default is one path per user, $HOME/.gunicorn/gunicorn.ctl)."""
    engine = get_engine()
    make_comparison_set(engine)
    user_home = tmp_path / "user"
    user_home.mkdir()
    env = {"STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"],
           "HOME": str(user_home), "XDG_RUNTIME_DIR": str(tmp_path / "no-runtime-dir")}
    with serve(workers=1, threads=2, env=env) as (_, first):
        with serve(workers=1, threads=2, env=env) as (url, second):
            time.sleep(1.5)  # gunicorn opens its control socket just after the workers
            a, b = unix_sockets(first.pid), unix_sockets(second.pid)
            assert not a & b, (a, b)
        # the second server stopped: the first keeps every socket it had
        assert all(Path(p).exists() for p in a if p.startswith("/"))
        assert unix_sockets(first.pid) == a
    assert not (user_home / ".gunicorn").exists()


def read_responses(s: socket.socket, n: int) -> list[tuple[int, bytes]]:
    """``n`` final responses (status, body) from ``s``; interim 1xx ones are skipped."""
    buf, out = b"", []
    s.settimeout(10)
    while len(out) < n:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode()
            status = int(head.split(" ", 2)[1])
            length = int(re.search(r"(?im)^content-length:\s*(\d+)", head)[1]) \
                if status >= 200 else 0
            end = head_end + 4 + length
            if len(buf) >= end:
                if status >= 200:
                    out.append((status, buf[head_end + 4:end]))
                buf = buf[end:]
                continue
        data = s.recv(65536)
        assert data, f"connection closed after {out}"
        buf += data
    return out


def test_buffering_keeps_http_framing(home):
    """Chunked bodies, Expect: 100-continue, requests split across packets and pipelined
    ones reach the app whole; a body over the buffer's limit is refused unread (413)."""
    engine = get_engine()
    make_comparison_set(engine)
    create_study(spec(), engine)
    env = {"STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}
    start = b'{"consent": true}'
    post = (b"POST /api/studies/s1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n")
    with serve(workers=1, threads=2, env=env) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:  # chunked, in pieces
            s.sendall(post + b"Transfer-Encoding: chunked\r\n\r\n5\r\n" + start[:5])
            time.sleep(0.3)
            s.sendall(b"\r\n" + f"{len(start) - 5:x}\r\n".encode() + start[5:] + b"\r\n0\r\n")
            time.sleep(0.3)
            s.sendall(b"\r\n")
            [(status, body)] = read_responses(s, 1)
            assert status == 201 and b'"token"' in body
        with socket.create_connection(("127.0.0.1", port)) as s:  # 100-continue
            s.sendall(post + f"Content-Length: {len(start)}\r\n".encode()
                      + b"Expect: 100-continue\r\n\r\n")
            s.settimeout(10)
            assert s.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(start)
            assert read_responses(s, 1)[0][0] == 201
        with socket.create_connection(("127.0.0.1", port)) as s:  # pipelined, split
            second = post + f"Content-Length: {len(start)}\r\n\r\n".encode() + start
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + second[:40])
            time.sleep(0.3)
            s.sendall(second[40:])
            assert [st for st, _ in read_responses(s, 2)] == [200, 201]
        with socket.create_connection(("127.0.0.1", port)) as s:  # too large for the buffer
            s.sendall(post + b"Content-Length: 2000000\r\n\r\n")
            [(status, body)] = read_responses(s, 1)
            assert status == 413 and b"request_entity_too_large" in body
