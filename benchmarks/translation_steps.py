"""Seconds per training iteration of each translator's ``cpu`` profile, 1 thread vs all.

Prints, per model, the time of one iteration (EGSC-IT: 1 D + 5 G steps of stage 2) with
``torch.set_num_threads(1)`` and with torch's default thread count, and their ratio: on a
shared 2-core machine one thread per training process is the faster setting. The reference
(denominator) is measured in the same run.

    python benchmarks/translation_steps.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from stylestudy.generator.translation.models import build_model
from stylestudy.generator.translation.profiles import METHODS, profile


def seconds_per_iteration(method: str, threads: int, repeats: int) -> float:
    torch.set_num_threads(threads)
    prof = profile(method, "cpu")
    model = build_model({"method": method, "profile": prof, "ablation": "none",
                         "adain_variant": "textbook", "seed": 0,
                         "allow_random_weights": True})
    stage = model.stages[-1]
    gen = torch.Generator().manual_seed(0)

    def draw():
        shape = (prof["batch"], 3, 28, 28)
        return torch.rand(shape, generator=gen) * 2 - 1, torch.rand(shape, generator=gen) * 2 - 1

    model.train_step(stage, draw)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        model.train_step(stage, draw)
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    default = torch.get_num_threads()
    print(f"torch {torch.__version__}, default threads {default}")
    print("method     1 thread s/it   default s/it   default / 1 thread")
    for method in METHODS:
        one = seconds_per_iteration(method, 1, args.repeats)
        many = seconds_per_iteration(method, default, args.repeats)
        print(f"{method:10s} {one:13.3f}   {many:12.3f}   {many / one:8.2f}")


if __name__ == "__main__":
    main()
