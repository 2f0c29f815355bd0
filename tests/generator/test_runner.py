"""The batch runner: idempotent planning, provenance, failures, shards, kill -9 and re-run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from stylestudy.db import get_engine, session_scope
from stylestudy.db.assets import load_pixels
from stylestudy.db.models import Asset, ComparisonSetMember, Generation
from stylestudy.errors import UserError
from stylestudy.generator import manifest, runner
from stylestudy.generator.executors import run_pool
from stylestudy.generator.method import Method, register
from stylestudy.generator.methods.classical import reinhard_transfer
from tests.generator.manifests import CLI, DEMO, all_done, write_manifest


def run_all(path, workers=1, retry=False):
    spec = manifest.load(path)
    runner.plan(spec)
    ids = runner.pending_ids(spec.name, retry_failed=retry)
    return spec, run_pool(spec.name, ids, workers, "cpu", retry_failed=retry,
                          show_progress=False)


def test_generate_then_rerun_does_nothing(db_url, tmp_path):
    path = write_manifest(tmp_path)
    spec, tally = run_all(path)
    assert tally == {"done": 36, "failed": 0, "skipped": 0}
    runner.plan(spec)
    assert runner.pending_ids(spec.name) == []
    assert runner.set_counts(spec.name) == all_done(36)
    with session_scope(get_engine()) as s:
        assert s.scalar(select(func.count()).select_from(Generation)) == 36
        assert s.scalar(select(func.count()).select_from(ComparisonSetMember)) == 36


def test_outputs_and_provenance(home, tmp_path):
    spec, _ = run_all(write_manifest(tmp_path, methods=["reinhard"], seeds=[3]))
    with session_scope() as s:
        gens = runner.set_generations(spec.name, s)
        assert len(gens) == 9
        g = gens[0]
        out = load_pixels(g.output)
        content = load_pixels(g.content)
        h, w = content.shape[:2]
        assert max(out.shape[:2]) == 48
        assert out.shape[0] / out.shape[1] == pytest.approx(h / w, rel=0.05)
        prov = g.provenance
        assert prov["method"]["name"] == "reinhard" and prov["method"]["version"] == "1"
        assert prov["seed"] == 3 and prov["size"] == 48 and prov["device"] == "cpu"
        assert prov["inputs"] == {"content": g.content.sha256, "style": g.style.sha256}
        assert prov["wall_time_s"] > 0 and prov["peak_memory_bytes"] > 0
        assert prov["uncalibrated"] is False and prov["libraries"]["torch"]
        assert g.output.role == "output" and g.status == "done" and g.attempts == 1
        # the stored output is exactly the method applied to the stored inputs
        from stylestudy.generator.imageops import output_shape, resize, to_float
        from stylestudy.generator.method import to_uint8

        expected = to_uint8(reinhard_transfer(
            resize(to_float(content), output_shape(h, w, 48)), to_float(load_pixels(g.style))))
        np.testing.assert_array_equal(out, expected)


@register
class FailsOnCoffee(Method):
    """Test-only method: raises for one content image."""

    name, version, kind = "test-fails-on-coffee", "1", "control"

    def run(self, request):
        if request.content.shape[:2] == (171, 256):  # coffee.png
            raise RuntimeError("synthetic failure")
        return request.content


def test_failure_is_recorded_and_batch_continues(home, tmp_path):
    path = write_manifest(tmp_path, methods=["test-fails-on-coffee"], size=None)
    spec, tally = run_all(path)
    assert tally["done"] == 6 and tally["failed"] == 3
    fails = runner.failures(spec.name)
    assert {f[1] for f in fails} == {"coffee.png"}
    assert all("RuntimeError: synthetic failure" in f[3] for f in fails)
    # failed rows stay failed unless asked; --retry-failed runs them again
    assert runner.pending_ids(spec.name) == []
    assert len(runner.pending_ids(spec.name, retry_failed=True)) == 3
    _, tally = run_all(path, retry=True)
    assert tally["failed"] == 3
    with session_scope() as s:
        attempts = {g.attempts for g in runner.set_generations(spec.name, s)
                    if g.status == "failed"}
    assert attempts == {2}


def test_shards_partition_the_work(db_url, tmp_path):
    path = write_manifest(tmp_path)
    spec = manifest.load(path)
    runner.plan(spec)
    parts = [set(runner.pending_ids(spec.name, runner.Shard(i, 3))) for i in range(3)]
    everything = set(runner.pending_ids(spec.name))
    assert set().union(*parts) == everything and sum(map(len, parts)) == len(everything)
    assert all(parts)
    assert runner.Shard.parse("2/3") == runner.Shard(2, 3)
    for bad in ("3/3", "a/b", "1"):
        with pytest.raises(Exception, match="--shard"):
            runner.Shard.parse(bad)


def test_claims_are_exclusive(db_url, tmp_path):
    spec = manifest.load(write_manifest(tmp_path, methods=["reinhard"]))
    runner.plan(spec)
    gen_id = runner.pending_ids(spec.name)[0]
    assert runner.claim(gen_id, f"{os.uname().nodename}:{os.getpid()}:a")
    assert not runner.claim(gen_id, "other:1:b")
    assert gen_id not in runner.pending_ids(spec.name)  # held by a live process


def _env(home):
    env = dict(os.environ, STYLESTUDY_HOME=home, PYTHONUNBUFFERED="1")
    env.pop("STYLESTUDY_DATABASE_URL", None)
    return env


def test_kill_9_then_rerun_completes_without_duplicates(home, tmp_path):
    path = write_manifest(tmp_path, size=96, seeds=[0, 1, 2])  # 108 generations
    proc = subprocess.Popen([*CLI, "generate", str(path), "--no-progress"], env=_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = get_engine()
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        with session_scope(engine) as s:
            done = s.scalar(select(func.count()).select_from(Generation)
                            .where(Generation.status == "done"))
        if done >= 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    counts = runner.set_counts("set")
    assert 0 < counts["done"] < 108
    rerun = subprocess.run([*CLI, "generate", str(path), "--no-progress"], env=_env(home),
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert runner.set_counts("set") == all_done(108)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Generation)) == 108
        assert s.scalar(select(func.count(func.distinct(Generation.output_asset_id)))) == \
            s.scalar(select(func.count()).select_from(Asset).where(Asset.role == "output"))
        for g in runner.set_generations("set", s):
            assert Path(home, "assets", g.output.path).is_file()
    # every output equals what an uninterrupted run in a fresh home produces
    clean_home = str(tmp_path / "clean")
    subprocess.run([*CLI, "generate", str(path), "--no-progress"], env=_env(clean_home),
                   check=True, capture_output=True, timeout=300)
    assert _outputs(engine) == _outputs(get_engine(f"sqlite:///{clean_home}/stylestudy.sqlite3"))


def _outputs(engine) -> dict[tuple, str]:
    with session_scope(engine) as s:
        return {(g.method.label, g.content.sha256, g.style.sha256, g.seed): g.output.sha256
                for g in runner.set_generations("set", s)}


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("name: x\nsize: -3\n"), "'size' must be"),
    (lambda p: p.write_text("name: x\ncontents: [a.png]\n"), "does not exist"),
])
def test_cli_errors_are_one_line(home, tmp_path, make, message):
    path = tmp_path / "bad.yaml"
    make(path)
    res = subprocess.run([*CLI, "generate", str(path)], env=_env(home), capture_output=True,
                         text=True)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_unreadable_image_and_unknown_method(home, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"garbage")
    for over, message in [({"contents": [str(bad)]}, "cannot read image"),
                          ({"methods": ["warp-drive"]}, "unknown method 'warp-drive'")]:
        path = write_manifest(tmp_path, **over)
        res = subprocess.run([*CLI, "generate", str(path)], env=_env(home),
                             capture_output=True, text=True)
        assert res.returncode == 2 and message in res.stderr
        assert "Traceback" not in res.stderr


def test_status_and_two_workers(home, tmp_path):
    path = write_manifest(tmp_path)
    spec, tally = run_all(path, workers=2)
    assert tally["done"] == 36 and tally["failed"] == 0
    res = subprocess.run([*CLI, "generate", str(path), "--status"], env=_env(home),
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert re.search(r"done\s+36\n", res.stdout) and re.search(r"pending\s+0\n", res.stdout)


@register
class BatchRecorder(Method):
    """Test-only batchable method: returns the content and records each batch's size."""

    name, version, kind, max_batch = "test-batch-recorder", "1", "control", 4
    sizes: list[int] = []

    def run(self, request):
        return self.run_batch([request])[0]

    def run_batch(self, requests):
        BatchRecorder.sizes.append(len(requests))
        return [r.content for r in requests]


def test_batchable_methods_run_in_groups(home, tmp_path):
    BatchRecorder.sizes.clear()
    path = write_manifest(tmp_path, methods=["test-batch-recorder", "reinhard"], size=None,
                          seeds=[0, 1])
    spec, tally = run_all(path)
    assert tally == {"done": 36, "failed": 0, "skipped": 0}
    # 18 generations of the batchable condition in groups of at most 4: 4,4,4,4,2
    assert sorted(BatchRecorder.sizes, reverse=True) == [4, 4, 4, 4, 2]
    with session_scope() as s:
        for g in runner.set_generations(spec.name, s):
            if g.method.name == "test-batch-recorder":
                assert g.provenance["batch_size"] in (4, 2)
                np.testing.assert_array_equal(load_pixels(g.output), load_pixels(g.content))
            else:
                assert g.provenance["batch_size"] == 1


@register
class GuideEcho(Method):
    """Test-only method: returns its content-regions guide (or the content without one)."""

    name, version, kind = "test-guide-echo", "1", "control"

    def run(self, request):
        return request.guides.get("content_regions", request.content)


def test_region_guides_reach_the_method_and_key_the_generation(home, tmp_path):
    from PIL import Image

    guide = np.zeros((171, 256, 3), np.uint8)
    guide[:, 128:] = (255, 0, 0)
    Image.fromarray(guide).save(tmp_path / "coffee_regions.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ihc_regions.png")
    path = write_manifest(tmp_path, methods=["test-guide-echo"], size=None, guides=[
        {"content": "coffee.png", "style": "ihc.png",
         "content_regions": "coffee_regions.png", "style_regions": "ihc_regions.png"}])
    spec, tally = run_all(path)
    assert tally["done"] == 9
    with session_scope() as s:
        gens = runner.set_generations(spec.name, s)
        guided = [g for g in gens if g.inputs.get("guides")]
        assert len(guided) == 1 and set(guided[0].inputs["guides"]) == {
            "content_regions", "style_regions"}
        np.testing.assert_array_equal(load_pixels(guided[0].output), guide)
        assert guided[0].provenance["inputs"]["guides"] == guided[0].inputs["guides"]
        unguided = [g for g in gens if g.content_asset_id == guided[0].content_asset_id
                    and g.style_asset_id == guided[0].style_asset_id and g is not guided[0]]
        assert unguided == []  # the pair exists once, with its guides
    # the same pair without guides is a different generation (another inputs key)
    plain = write_manifest(tmp_path, methods=["test-guide-echo"], size=None)
    runner.plan(manifest.load(plain))
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Generation)) == 10


def test_batch_size_follows_the_device(home, tmp_path):
    """STROTSS batches on a GPU only: groups of one for the CPU, of up to max_batch for
    ``cuda`` (grouping needs no GPU: it only asks which device the method would get)."""
    path = write_manifest(tmp_path, methods=[{"name": "strotss", "params": {"preset": "quick"}}],
                          size=None)
    spec = manifest.load(path)
    runner.plan(spec)
    ids = runner.pending_ids(spec.name)
    assert len(ids) == 9
    assert [len(g) for g in runner.batches(ids)] == [1] * 9
    gpu = runner.batches(ids, methods=runner.MethodCache(device="cuda:0"))
    assert [len(g) for g in gpu] == [8, 1] and sum(gpu, []) == ids


def test_a_manifest_that_differs_from_its_set_needs_extend(home, tmp_path):
    """Changing size, conditions or seeds under a set's name used to grow the set silently."""
    one = [str(Path(DEMO) / "styles" / "ihc.png")]
    path = write_manifest(tmp_path, methods=["content-copy"], styles=one)
    spec, tally = run_all(path)
    assert tally["done"] == 3
    bigger = write_manifest(tmp_path, methods=["content-copy"], styles=one, size=96)
    res = subprocess.run([*CLI, "generate", str(bigger)], env=_env(home),
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "comparison set 'set' already holds 3 generations and this manifest differs: " \
           "size 48 → 96; it would add 3 generation(s) and keep 3 that it no longer names. " \
           "Run with --extend" in res.stderr
    assert runner.set_counts("set")["done"] == 3 and sum(runner.set_counts("set").values()) == 3
    more = write_manifest(tmp_path, methods=["content-copy", "reinhard"], styles=one,
                          seeds=[0, 1])
    with pytest.raises(UserError) as err:
        runner.plan(manifest.load(more), extend=False)
    assert "conditions added: reinhard; seeds added: 1;" in err.value.message
    assert "it would add 9 generation(s)." in err.value.message
    same = write_manifest(tmp_path, methods=["content-copy"], styles=one)
    runner.plan(manifest.load(same), extend=False)  # the set's own manifest again: fine
    bigger = write_manifest(tmp_path, methods=["content-copy"], styles=one, size=96)
    res = subprocess.run([*CLI, "generate", str(bigger), "--extend", "--no-progress"],
                         env=_env(home), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert runner.set_counts("set")["done"] == 6
