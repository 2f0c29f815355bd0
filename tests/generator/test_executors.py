"""Local, sharded (two processes on PostgreSQL) and Ray executors give the same set."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from stylestudy.db import get_engine, session_scope
from stylestudy.generator import manifest, runner
from stylestudy.generator.ray_executor import run_ray
from tests.generator.manifests import CLI, all_done, write_manifest

pytestmark = pytest.mark.slow


def outputs(engine) -> dict[tuple, str]:
    """(method label, version, params hash, content, style, seed) → output SHA-256."""
    with session_scope(engine) as s:
        gens = runner.set_generations("set", s)
        assert all(g.status == "done" for g in gens)
        return {(g.method.label, g.method.version, g.method.params_hash, g.content.sha256,
                 g.style.sha256, g.seed): g.output.sha256 for g in gens}


def env_for(url: str) -> dict[str, str]:
    return dict(os.environ, STYLESTUDY_DATABASE_URL=url)


@pytest.mark.postgres
def test_local_shards_and_ray_agree(home, tmp_path, monkeypatch):
    from tests.conftest import fresh_postgres_database

    path = write_manifest(tmp_path, size=64, seeds=[0, 1])
    # 1. local executor, SQLite
    local_url = f"sqlite:///{tmp_path}/local.sqlite3"
    subprocess.run([*CLI, "generate", str(path), "--no-progress"], env=env_for(local_url),
                   check=True, capture_output=True, timeout=300)
    reference = outputs(get_engine(local_url))
    assert len(reference) == 72
    # 2. two shards in two concurrent processes against one PostgreSQL database
    with fresh_postgres_database() as pg:
        procs = [subprocess.Popen([*CLI, "generate", str(path), "--shard", f"{i}/2",
                                   "--no-progress"], env=env_for(pg),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        assert outputs(get_engine(pg)) == reference
    # 3. Ray on a local instance
    ray_url = f"sqlite:///{tmp_path}/ray.sqlite3"
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", ray_url)
    spec = manifest.load(path)
    runner.plan(spec)
    tally = run_ray(spec.name, runner.pending_ids(spec.name), "cpu", show_progress=False)
    assert tally == {"done": 72, "failed": 0, "skipped": 0}
    assert outputs(get_engine(ray_url)) == reference


def _ray_task_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if b"ray::_remote_execute" in fh.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_killing_a_ray_worker_loses_and_duplicates_nothing(home, tmp_path):
    # large Reinhard outputs keep each task busy long enough to be killed mid-run
    path = write_manifest(tmp_path, size=2048, methods=["reinhard"])
    spec = manifest.load(path)
    runner.plan(spec)
    ids = runner.pending_ids(spec.name)
    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            pids = _ray_task_pids()
            if pids:
                time.sleep(0.3)  # let it get into the computation
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    tally = run_ray(spec.name, ids, "cpu", show_progress=False)
    thread.join()
    assert killed, "no Ray worker was caught running a task"
    assert tally == {"done": 9, "failed": 0, "skipped": 0}
    assert runner.set_counts(spec.name) == all_done(9)
    got = outputs(get_engine())
    with session_scope() as s:
        gens = runner.set_generations(spec.name, s)
        assert len(gens) == 9 and all(g.attempts == 1 for g in gens)
        assert any(g.provenance["executor"]["worker_pid"] != killed[0] for g in gens)
    # identical to the local executor's outputs
    local_url = f"sqlite:///{tmp_path}/local.sqlite3"
    subprocess.run([*CLI, "generate", str(path), "--no-progress"], env=env_for(local_url),
                   check=True, capture_output=True, timeout=600)
    assert outputs(get_engine(local_url)) == got
