"""Study-server load: concurrent simulated participants against gunicorn over loopback.

For PostgreSQL and for SQLite, `stylestudy serve --workers N` runs in a fresh home; P
participants (spread over client processes and threads) each start a session and POST
their responses as fast as the server answers. Prints responses per second, p50/p99 latency
of the response POST, and lost responses (acknowledged but not in the database). As a
reference measured in the same run, the same clients hammer ``GET /healthz`` (one
``SELECT 1`` per request); the ratio shows what the response path costs beyond the HTTP +
database floor. Target (issue 5): ≥ 1000 responses/s, p99 < 100 ms, zero lost on 2 cores
with PostgreSQL.

    python benchmarks/server_load.py [--participants 32] [--trials 24] [--workers 2] [--threads 8]
                                     [--db postgres,sqlite] [--procs 2]
"""

from __future__ import annotations

import argparse
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from study_server.client import ApiClient  # noqa: E402

PG_ADMIN = os.environ.get("STYLESTUDY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def setup(db_url: str, trials: int, participants: int) -> None:
    """A comparison set (4 methods × 6 contents × 2 styles) and one link study."""
    from db.assets import store_pixels
    from db.engine import get_engine, session_scope
    from db.models import ComparisonSet, ComparisonSetMember, Generation, Method
    from study_server.studies import create_study

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


def client_proc(url: str, n: int, out: mp.Queue, go: mp.Event) -> None:
    """Run ``n`` participants in threads; put (latencies, acked ids, errors, t0, t1)."""
    lat, acked, errors = [], [], 0
    lock = threading.Lock()

    def one() -> None:
        nonlocal errors
        c = ApiClient(url)
        status, body = c.request("POST", "/api/studies/load/sessions", {"consent": True},
                                 retries=0)
        if status != 201:
            with lock:
                errors += 1
            return
        c.token = body["token"]
        _, state = c.request("GET", "/api/session")
        go.wait()
        for t in state["trials"]:
            rid = str(uuid.uuid4())
            t0 = time.perf_counter()
            status, _ = c.request("POST", "/api/responses", {"response_id": rid,
                                                             "trial": t["id"], "choice": "left",
                                                             "rt_ms": 800})
            dt = time.perf_counter() - t0
            with lock:
                if status in (200, 201):
                    lat.append(dt)
                    acked.append(rid)
                else:
                    errors += 1
        c.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put((lat, acked, errors))


def healthz_proc(url: str, n: int, seconds: float, out: mp.Queue) -> None:
    count, lat = 0, []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def one() -> None:
        nonlocal count
        c = ApiClient(url)
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            c.request("GET", "/healthz")
            with lock:
                count += 1
                lat.append(time.perf_counter() - t0)
        c.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put((count, lat))


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, p)) if xs else float("nan")


def run_one(db: str, args) -> None:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": "bench",
               "STYLESTUDY_REQUEST_LOG": "off", "STYLESTUDY_RATELIMIT": "off"}
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
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{url}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            q: mp.Queue = mp.Queue()
            per = [args.participants // args.procs + (i < args.participants % args.procs)
                   for i in range(args.procs)]
            # reference: GET /healthz with the same client concurrency
            hp = [mp.Process(target=healthz_proc, args=(url, n, 5.0, q)) for n in per]
            for p in hp:
                p.start()
            href = [q.get() for _ in hp]
            for p in hp:
                p.join()
            h_rate = sum(c for c, _ in href) / 5.0
            h_lat = [x for _, lat in href for x in lat]
            go = mp.Event()
            procs = [mp.Process(target=client_proc, args=(url, n, q, go)) for n in per]
            for p in procs:
                p.start()
            time.sleep(2.0 + args.participants * 0.02)  # everyone started and loaded
            t0 = time.perf_counter()
            go.set()
            results = [q.get() for _ in procs]
            elapsed = time.perf_counter() - t0
            for p in procs:
                p.join()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        lat = [x for r in results for x in r[0]]
        acked = {x for r in results for x in r[1]}
        errors = sum(r[2] for r in results)
        from sqlalchemy import create_engine, select

        from db.models import Response
        eng = create_engine(db_url.replace("postgresql+psycopg", "postgresql+psycopg"))
        with eng.connect() as conn:
            stored = set(conn.execute(select(Response.response_id)).scalars())
        eng.dispose()
        if pg_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        rate = len(lat) / elapsed
        print(f"{db:9s} responses/s {rate:7.1f}  p50 {pct(lat, 50):6.1f} ms  "
              f"p99 {pct(lat, 99):6.1f} ms  lost {len(acked - stored)}  errors {errors}  "
              f"(n={len(lat)})")
        print(f"{'':9s} reference GET /healthz/s {h_rate:7.1f}  p50 {pct(h_lat, 50):6.1f} ms  "
              f"p99 {pct(h_lat, 99):6.1f} ms;  responses / healthz = {rate / h_rate:.2f}; "
              f"vs target 1000/s = {rate / 1000:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=32)
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--db", default="postgres,sqlite")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs; python {platform.python_version()}"
          f"; {args.participants} participants × {min(args.trials, 24)} trials (+catch/repeat), "
          f"gunicorn {args.workers} workers × {args.threads} threads, {args.procs} client procs")
    for db in args.db.split(","):
        run_one(db.strip(), args)


if __name__ == "__main__":
    main()
