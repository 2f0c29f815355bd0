"""Generation throughput: outputs per second per method and executor, and Ray's overhead.

For each method (Reinhard, Magenta, STROTSS with its quick preset; those whose weights are
missing are reported and skipped) the same manifest runs in a fresh home with the local
executor (1 and 2 workers) and with Ray on this machine. Ray's per-task overhead is
measured against the local executor on trivial tasks (content copies of a tiny image) and
printed as a fraction of one quick-preset STROTSS output's time.

    python benchmarks/generate.py [--skip-strotss]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "stylestudy" / "demo_data"
CLI = [sys.executable, "-m", "stylestudy.cli"]


#: the slow methods run on two pairs only (one output each per seed)
FEW_PAIRS = [["astronaut.png", "hubble.png"], ["chelsea.png", "ihc.png"]]


def manifest(folder: Path, methods: list, size: int, seeds: list[int],
             pairs: list | None = None) -> Path:
    path = folder / "m.yaml"
    path.write_text(yaml.safe_dump({
        "name": "bench", "size": size, "seeds": seeds, "contents": [str(DEMO / "contents")],
        "styles": [str(DEMO / "styles")], "methods": methods, "pairs": pairs or "all"}))
    return path


def timed_run(methods: list, size: int, seeds: list[int], args: list[str],
              pairs: list | None = None) -> tuple[float, int]:
    """Wall seconds of `stylestudy generate` in a fresh home (planning included) and count."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = manifest(folder, methods, size, seeds, pairs)
        env = dict(os.environ, STYLESTUDY_HOME=str(folder / "home"))
        env.pop("STYLESTUDY_DATABASE_URL", None)
        # plan first so that only generation (with the command's start-up) is timed
        subprocess.run([sys.executable, "-c", "import sys; from generator import manifest, "
                        "runner; runner.plan(manifest.load(sys.argv[1]))", str(path)],
                       env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        res = subprocess.run([*CLI, "generate", str(path), "--no-progress", *args], env=env,
                             capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            raise RuntimeError(res.stderr.strip().splitlines()[-1] if res.stderr else "failed")
        n = len(seeds) * (len(pairs) if pairs else 9) * len(methods)
        return wall, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-strotss", action="store_true")
    ap.add_argument("--only", help="run only this method label (e.g. strotss-quick)")
    ap.add_argument("--trivial-small", type=int, default=5, help="seeds (×9 tasks), short run")
    ap.add_argument("--trivial-large", type=int, default=25, help="seeds (×9 tasks), long run")
    args = ap.parse_args()
    from stylestudy.demo import PRETRAINED
    from stylestudy.generator import method as registry

    known = registry.available()
    cases = [("reinhard", [{"name": "reinhard"}], 256, [0, 1, 2], None)]
    for entry, _weights in PRETRAINED:
        if entry["name"] == "strotss" and args.skip_strotss:
            continue
        if args.only and entry.get("label", entry["name"]) != args.only:
            continue
        if entry["name"] in known:
            slow = entry["name"] in ("strotss", "gatys")
            cases.append((entry.get("label", entry["name"]), [entry], 128, [0],
                          FEW_PAIRS if slow else None))
    print(f"# machine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}")
    print("| method | executor | outputs | wall s | outputs/s |")
    print("|---|---|---|---|---|")
    per_output: dict[str, float] = {}
    for label, methods, size, seeds, pairs in cases:
        for name, extra in (("local ×1", []), ("local ×2", ["--workers", "2"]),
                            ("ray", ["--executor", "ray"])):
            try:
                wall, n = timed_run(methods, size, seeds, extra, pairs)
            except RuntimeError as exc:
                print(f"| {label} | {name} | – | – | failed: {exc} |")
                continue
            per_output.setdefault(label, wall / n)
            print(f"| {label} | {name} | {n} | {wall:.2f} | {n / wall:.3f} |")
    # Ray overhead per task: the slope of (Ray − local) wall time over the task count, so
    # that Ray's start-up and planning cancel out
    diffs = {}
    for n_seeds in (args.trivial_small, args.trivial_large):
        seeds = list(range(n_seeds))
        local, n = timed_run([{"name": "content-copy"}], 16, seeds, [])
        ray, _ = timed_run([{"name": "content-copy"}], 16, seeds, ["--executor", "ray"])
        diffs[n] = ray - local
        print(f"trivial tasks: {n}: local {local:.2f} s, ray {ray:.2f} s")
    (n1, d1), (n2, d2) = sorted(diffs.items())
    overhead = max(0.0, (d2 - d1) / (n2 - n1))
    print(f"\nRay overhead per task: {overhead * 1000:.1f} ms "
          f"(slope between {n1} and {n2} tasks)")
    strotss = next((v for k, v in per_output.items() if k.startswith("strotss")), None)
    if strotss:
        print(f"ratio to one quick-preset STROTSS output ({strotss:.2f} s): "
              f"{overhead / strotss:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
