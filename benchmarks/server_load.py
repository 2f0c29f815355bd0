"""Study-server load: concurrent simulated participants against gunicorn over loopback.

For PostgreSQL and for SQLite, `stylestudy serve --workers N` runs in a fresh home; P
participants (spread over client processes) each start a session, then, all at once, POST
their responses as fast as the server answers, each on its own keep-alive connection from
an asyncio loop (a lean client, so the load generator takes little of the shared cores).
Prints the rate and latency of the session starts (a launch: every participant at once),
then responses per second, p50/p99 latency of the response POST, lost responses
(acknowledged but not in the database), and the CPU milliseconds per response spent by the
gunicorn workers, by PostgreSQL and by the whole machine (from /proc). This machine's speed
can move 2× from one minute to the next: ``--repeat N`` prints the median of N runs. As a
reference measured in the same run, the same
client hammers ``GET /healthz`` (one ``SELECT 1`` per request); the ratio shows what the
response path costs beyond the HTTP + database floor. Target (issue 5): at least 1000
responses/s, p99 < 100 ms, zero lost on 2 cores with PostgreSQL. Rate limits and request
logs are off unless ``--production`` turns them on (the start limit counted in Redis, as
with several workers in production, and raised because every simulated participant comes
from one address; each session's requests counted by its worker's share).

    python benchmarks/server_load.py [--participants 256] [--concurrency 32] [--trials 24]
                                     [--workers 2] [--threads 4] [--db postgres,sqlite] [--procs 2]
                                     [--repeat 1] [--production]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylestudy.study_server.ops.client import ApiClient  # noqa: E402

#: ``--production``: Flask-Limiter in Redis (a fresh key prefix per invocation), request logs on
PRODUCTION_ENV = {"STYLESTUDY_RATELIMIT_STORAGE": "redis://127.0.0.1:6379",
                  "STYLESTUDY_RATELIMIT_PREFIX": f"bench{secrets.token_hex(4)}",
                  "STYLESTUDY_START_LIMIT": "100000/minute",
                  "STYLESTUDY_OPEN_PER_ADDRESS": "0"}  # every client is on loopback
PG_ADMIN = os.environ.get("STYLESTUDY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def setup(db_url: str, trials: int, participants: int) -> None:
    """A comparison set (4 methods × 6 contents × 2 styles) and one link study."""
    from stylestudy.db.assets import store_pixels
    from stylestudy.db.engine import get_engine, session_scope
    from stylestudy.db.models import ComparisonSet, ComparisonSetMember, Generation, Method
    from stylestudy.study_server.study.studies import create_study

    engine = get_engine(db_url)
    rng = np.random.default_rng(0)
    with session_scope(engine, write=True) as s:
        cs = [store_pixels(s, rng.integers(0, 256, (48, 64, 3), np.uint8), "content",
                           source_name=f"c{k}") for k in range(6)]
        ss = [store_pixels(s, rng.integers(0, 256, (32, 32, 3), np.uint8), "style",
                           source_name=f"s{k}") for k in range(2)]
        cset = ComparisonSet(name="bench", manifest={})
        s.add(cset)
        for label in ("a", "b", "c", "d"):
            m = Method(name=label, version="1", label=label, params={}, params_hash=label * 8)
            s.add(m)
            s.flush()
            for c in cs:
                for st in ss:
                    out = store_pixels(s, rng.integers(0, 256, (48, 64, 3), np.uint8), "output")
                    g = Generation(method_id=m.id, content_asset_id=c.id, style_asset_id=st.id,
                                   inputs_key=f"{c.id}-{st.id}", seed=0, status="done",
                                   output_asset_id=out.id)
                    s.add(g)
                    s.flush()
                    s.add(ComparisonSetMember(set_id=cset.id, generation_id=g.id))
    # 2 questions × 12 items × 6 pairs = 144 real cells; distinct items cap a session at 24
    # real trials, so "trials" are rounded to that; targets leave room for everyone.
    real = min(trials, 24)
    create_study({"slug": "load", "comparison_set": "bench", "trials_per_session": real,
                  "judgments_per_cell": participants * real, "practice_trials": 0,
                  "catch_rate": 0.1, "min_catch_trials": 2, "repeat_rate": 0.1,
                  "min_view_ms": 0}, engine)
    engine.dispose()


def _start(url: str, n: int) -> tuple[list[tuple[str, list[int]]], int, list[float], float]:
    """Start ``n`` sessions at once in threads, like a study's launch: (token, trial ids)
    each, failures, the latency of each start and the seconds the burst took."""
    started, errors, lat = [], 0, []
    lock = threading.Lock()

    def one() -> None:
        nonlocal errors
        c = ApiClient(url)
        t0 = time.perf_counter()
        try:
            status, body = c.request("POST", "/api/studies/load/sessions", {"consent": True},
                                     retries=0)
        except ConnectionError:  # timed out or refused: counted as a failed start
            status = 0
        lat.append(time.perf_counter() - t0)
        if status == 201:
            c.token = body["token"]
            _, state = c.request("GET", "/api/session")
        c.close()
        with lock:
            if status == 201:
                started.append((body["token"], [t["id"] for t in state["trials"]]))
            else:
                errors += 1

    threads = [threading.Thread(target=one) for _ in range(n)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return started, errors, lat, time.perf_counter() - t0


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, bool]:
    """Send one HTTP/1.1 request, read the whole response; (status, server closes)."""
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    length, close = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    await reader.readexactly(length)
    return status, close


async def _answer(host: str, port: int, token: str, trials: list[int], lat: list,
                  acked: list) -> int:
    """POST one participant's responses on one keep-alive connection; returns failures."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST /api/responses HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n")
    errors = 0
    for tid in trials:
        rid = str(uuid.uuid4())
        body = json.dumps({"response_id": rid, "trial": tid, "choice": "left",
                           "rt_ms": 800}).encode()
        t0 = time.perf_counter()
        status, close = await _exchange(
            reader, writer, f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        if status in (200, 201):
            lat.append(time.perf_counter() - t0)
            acked.append(rid)
        else:
            errors += 1
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
    writer.close()
    return errors


def client_proc(url: str, n: int, concurrency: int, ready: mp.Queue, out: mp.Queue,
                go: mp.Event) -> None:
    """Start ``n`` participants, then (after ``go``) POST their responses from one asyncio
    loop, ``concurrency`` participants at a time; put (latencies, acked ids, errors)."""
    started, errors, start_lat, start_s = _start(url, n)
    ready.put((len(started), start_lat, start_s))
    parts = urlsplit(url)
    lat: list[float] = []
    acked: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(tok: str, trials: list[int]) -> int:
        async with gate:
            return await _answer(parts.hostname, parts.port, tok, trials, lat, acked)

    async def run() -> int:
        return sum(await asyncio.gather(*(one(tok, trials) for tok, trials in started)))

    go.wait()
    errors += asyncio.run(run())
    out.put((lat, acked, errors))


def healthz_proc(url: str, n: int, seconds: float, out: mp.Queue) -> None:
    """``n`` keep-alive connections GET /healthz for ``seconds``; put (count, latencies)."""
    parts = urlsplit(url)
    lat: list[float] = []
    request = f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()

    async def one(stop: float) -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            _, close = await _exchange(reader, writer, request)
            lat.append(time.perf_counter() - t0)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.close()

    async def run() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(one(stop) for _ in range(n)))

    asyncio.run(run())
    out.put((len(lat), lat))


def bare_app():
    """The HTTP floor: a Flask app whose /healthz touches no database (gunicorn factory)."""
    from flask import Flask, jsonify

    app = Flask("bare")
    app.add_url_rule("/healthz", "healthz", lambda: jsonify({"ok": True}))
    return app


#: seconds each /healthz reference runs
HEALTHZ_S = 5.0


def _healthz_rate(url: str, conc: list[int], q: mp.Queue) -> tuple[float, list[float]]:
    """GET /healthz from one process per entry of ``conc`` for 5 s; (rate, latencies)."""
    hp = [mp.Process(target=healthz_proc, args=(url, n, HEALTHZ_S, q)) for n in conc]
    for p in hp:
        p.start()
    got = [q.get() for _ in hp]
    for p in hp:
        p.join()
    return sum(c for c, _ in got) / HEALTHZ_S, [x for _, lat in got for x in lat]


def _wait_up(url: str) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)


def bare_floor(args) -> tuple[float, float]:
    """Requests/s of :func:`bare_app` under the same gunicorn settings and client, and
    the whole machine's CPU milliseconds per request."""
    port = 18000 + secrets.randbelow(2000)
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
         str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
         "server_load:bare_app()"], cwd=Path(__file__).parent, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_up(url)
        conc = [args.concurrency // args.procs + (i < args.concurrency % args.procs)
                for i in range(args.procs)]
        cpu0 = cpu_snapshot(proc.pid)
        rate = _healthz_rate(url, conc, mp.Queue())[0]
        return rate, (cpu_snapshot(proc.pid)["busy"] - cpu0["busy"]) * 1000 / (rate * HEALTHZ_S)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds of it and its reaped children) from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    f = raw[raw.rindex(")") + 2:].split()
    return comm, int(f[1]), sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the gunicorn tree, of PostgreSQL, and of the whole machine.

    Exited processes count through their parent's reaped-children times (gunicorn master,
    postmaster), so the differences between two snapshots are whole.
    """
    out = {"server": 0.0, "postgres": 0.0}
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        st = _stat(pid)
        if st is None:
            continue
        if int(pid) == server_pid or st[1] == server_pid:
            out["server"] += st[2]
        elif st[0] == "postgres":
            out["postgres"] += st[2]
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields[:8]]
    out["busy"] = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return out


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, p)) if xs else float("nan")


def run_one(db: str, args, floor_cpu: float) -> dict[str, float]:
    """One run against a fresh database; prints its lines and returns its figures."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": "bench",
               **(PRODUCTION_ENV if args.production else
                  {"STYLESTUDY_REQUEST_LOG": "off", "STYLESTUDY_RATELIMIT": "off"})}
        pg_name = None
        if db == "postgres":
            from sqlalchemy import create_engine, text

            pg_name = f"stylestudy_bench_{secrets.token_hex(4)}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
            db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_name}"
        else:
            db_url = f"sqlite:///{home}/db.sqlite3"
        env["STYLESTUDY_DATABASE_URL"] = db_url
        os.environ.update(STYLESTUDY_HOME=home, STYLESTUDY_SECRET="bench")
        setup(db_url, args.trials, args.participants)
        port = 18000 + secrets.randbelow(2000)
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-c", "from stylestudy.cli import main; main()", "serve",
             "--port", str(port), "--workers", str(args.workers), "--threads",
             str(args.threads)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            _wait_up(url)
            q: mp.Queue = mp.Queue()
            per = [args.participants // args.procs + (i < args.participants % args.procs)
                   for i in range(args.procs)]
            # reference: GET /healthz with the same client concurrency
            conc = [args.concurrency // args.procs + (i < args.concurrency % args.procs)
                    for i in range(args.procs)]
            h_rate, h_lat = _healthz_rate(url, conc, q)
            go = mp.Event()
            ready: mp.Queue = mp.Queue()
            procs = [mp.Process(target=client_proc, args=(url, n, c, ready, q, go))
                     for n, c in zip(per, conc, strict=True)]
            for p in procs:
                p.start()
            begun = [ready.get() for _ in procs]  # every session started, trials loaded
            cpu0 = cpu_snapshot(proc.pid)
            t0 = time.perf_counter()
            go.set()
            results = [q.get() for _ in procs]
            elapsed = time.perf_counter() - t0
            cpu1 = cpu_snapshot(proc.pid)
            for p in procs:
                p.join()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        lat = [x for r in results for x in r[0]]
        acked = {x for r in results for x in r[1]}
        errors = sum(r[2] for r in results)
        from sqlalchemy import create_engine, select

        from stylestudy.db.models import Response
        eng = create_engine(db_url)
        with eng.connect() as conn:
            stored = set(conn.execute(select(Response.response_id)).scalars())
        eng.dispose()
        if pg_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        rate, lost = len(lat) / elapsed, len(acked - stored)
        start_lat = [x for b in begun for x in b[1]]
        print(f"{db:9s} session starts (all at once, untimed for the responses): "
              f"{sum(b[0] for b in begun) / max(b[2] for b in begun):.1f}/s, "
              f"p50 {pct(start_lat, 50):.0f} ms, p99 {pct(start_lat, 99):.0f} ms")
        print(f"{db:9s} responses/s {rate:7.1f}  p50 {pct(lat, 50):6.1f} ms  "
              f"p99 {pct(lat, 99):6.1f} ms  lost {lost}  errors {errors}  "
              f"(n={len(lat)})")
        print(f"{'':9s} reference GET /healthz/s {h_rate:7.1f}  p50 {pct(h_lat, 50):6.1f} ms  "
              f"p99 {pct(h_lat, 99):6.1f} ms;  responses / healthz = {rate / h_rate:.2f}; "
              f"vs target 1000/s = {rate / 1000:.2f}")
        per = {k: (cpu1[k] - cpu0[k]) * 1000 / max(len(lat), 1) for k in cpu0}
        print(f"{'':9s} CPU ms per response: gunicorn {per['server']:.2f}, "
              f"PostgreSQL {per['postgres']:.2f}, whole machine {per['busy']:.2f} "
              f"(machine busy {(cpu1['busy'] - cpu0['busy']) / elapsed / os.cpu_count():.0%})"
              f"; a response costs {per['busy'] / floor_cpu:.2f} HTTP-floor requests")
        return {"rate": rate, "p99": pct(lat, 99), "lost": lost}


def summary(db: str, runs: list[dict[str, float]]) -> None:
    """Median over repeated runs, and how many met the target (machine speed varies)."""
    met = sum(r["rate"] >= 1000 and r["p99"] < 100 and r["lost"] == 0 for r in runs)
    print(f"{db:9s} {len(runs)} runs: median responses/s "
          f"{np.median([r['rate'] for r in runs]):.1f} (min {min(r['rate'] for r in runs):.1f}, "
          f"max {max(r['rate'] for r in runs):.1f}), median p99 "
          f"{np.median([r['p99'] for r in runs]):.1f} ms, lost {sum(r['lost'] for r in runs)}; "
          f"{met} of {len(runs)} met the target (>= 1000/s, p99 < 100 ms, none lost)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=32,
                    help="participants answering at the same time (keep-alive connections)")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4,
                    help="threads per gunicorn worker (the `stylestudy serve` default)")
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--db", default="postgres,sqlite")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per database, each after its own HTTP-floor measurement; "
                         "a summary with the median follows")
    ap.add_argument("--production", action="store_true",
                    help="rate limits (Redis) and request logs on")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs; python {platform.python_version()}"
          f"; {args.participants} participants × {min(args.trials, 24)} trials (+catch/repeat), "
          f"{args.concurrency} at a time, "
          f"gunicorn {args.workers} workers × {args.threads} threads, {args.procs} client procs"
          f"; rate limits and request logs {'on' if args.production else 'off'}")
    dbs = [db.strip() for db in args.db.split(",")]
    runs: dict[str, list[dict[str, float]]] = {db: [] for db in dbs}
    for _ in range(args.repeat):
        rate, cpu = bare_floor(args)
        print(f"HTTP floor: bare Flask /healthz (no database), same gunicorn settings and "
              f"client: {rate:.1f} requests/s, whole machine {cpu:.2f} CPU ms per request")
        for db in dbs:
            runs[db].append(run_one(db, args, cpu))
    if args.repeat > 1:
        for db in dbs:
            summary(db, runs[db])


if __name__ == "__main__":
    main()
