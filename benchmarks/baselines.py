"""Seconds per 256-px and 512-px output of the STROTSS paper's baselines (and STROTSS/Gatys
for reference) on this machine.

Optimisation methods run at their paper defaults for hours on a CPU, so each is timed on
two short runs (k and 2k iterations, same size, same settings otherwise); the difference is
the cost of k iterations, and the projection is setup + iterations at the defaults × that
cost. Feed-forward methods (AdaIN, WCT) run whole, on networks of the authors' architecture
with seeded stand-in weights (the time does not depend on the weight values). Every figure
is also printed as a ratio to one VGG19 forward+backward pass (to relu4_2) at the same size,
measured in the same run.

    python benchmarks/baselines.py [--sizes 256 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylestudy.generator.method import Request, RunContext, get

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "stylestudy" / "demo_data"

#: method → (short-run parameters as a function of k, iterations at the defaults, k)
SHORT = {
    "cnnmrf": (lambda k: {"iterations": k}, 100, 2),
    "contextual": (lambda k: {"iterations": k}, 1000, 3),
    "swd": (lambda k: {"steps": 1, "iterations": k}, 64 * 64, 2),
    "gatys": (lambda k: {"iterations": k}, 1000, 3),
    "strotss": (lambda k: {"iterations": k}, 250, 2),
}


def _image(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0


def _timed(inst, request: Request, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        inst.run(request)
        best = min(best, time.perf_counter() - t0)
    return best


def vgg_pass(size: int) -> float:
    """Seconds of one VGG19 forward + backward (relu4_2) on a size×3/4·size image."""
    from stylestudy.generator.encoder import load_encoder

    enc, _ = load_encoder("vgg19-caffe-q8", ("relu4_2",))
    x = torch.rand(1, 3, size * 3 // 4, size, requires_grad=True)
    enc(x)["relu4_2"].sum().backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(3):
        enc(x)["relu4_2"].sum().backward()
    return (time.perf_counter() - t0) / 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    content = _image(DEMO / "contents" / "chelsea.png")
    style = _image(DEMO / "styles" / "ihc.png")
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.2f} at start")
    print("size  method      s/iteration  iterations@default  projected s/output  "
          "ratio to one VGG19 pass")
    for size in args.sizes:
        ref = vgg_pass(size)
        print(f"{size:<5} vgg19-pass  {ref:11.3f}")
        for name, (params, default_iters, k) in SHORT.items():
            cls = get(name)
            inst = cls(RunContext())
            inst.setup()
            t1 = _timed(inst, Request(content, style, 0, cls.validate_params(params(k)), size))
            t2 = _timed(inst, Request(content, style, 0, cls.validate_params(params(2 * k)),
                                      size))
            per = max(t2 - t1, 0.0) / k
            total = t1 - k * per + default_iters * per
            print(f"{size:<5} {name:<11} {per:11.3f}  {default_iters:18d}  {total:18.0f}  "
                  f"{per / ref:8.1f}")
        for name in ("adain", "wct"):
            cls = get(name)
            inst = cls(RunContext(allow_random_weights=True))
            inst.setup()
            req = Request(content, style, 0, cls.validate_params({}), size)
            _timed(inst, req)  # warm-up
            t = _timed(inst, req, repeats=3)
            print(f"{size:<5} {name:<11} {'-':>11}  {'(one pass)':>18}  {t:18.2f}  "
                  f"{t / ref:8.1f}")
    print(f"# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
