"""Analysis benchmarks: JOD scaling, the observer bootstrap, batched SSIM.

Prints absolute times and ratios against references measured in the same run:
  * JOD scaling of 20 conditions from 100,000 judgments vs choix.opt_pairwise (BT) on the
    same data;
  * a 1000-sample observer bootstrap (8 conditions, 40 observers) vs 1000 × one scaling
    from q = 0 (the bootstrap warm-starts from the full-data solution);
  * SSIM against skimage's Wang-compatible call (gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False), side by side, medians of interleaved runs: one 512×512
    RGB pair in float64, and a batch of 8 pairs in float32; wall and CPU time, and the
    machine's load average.

    python benchmarks/analysis.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# this file is named like the package it measures: import the package, not this script
sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np  # noqa: E402
import torch  # noqa: E402


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_jod(quick: bool) -> None:
    from stylestudy.analysis.bt import bradley_terry
    from stylestudy.analysis.jod import scale

    rng = np.random.default_rng(0)
    n, judgments = 20, 100_000
    q = np.linspace(-2, 2, n)
    i, j = rng.integers(0, n, judgments), rng.integers(0, n, judgments)
    keep = i != j
    i, j = i[keep], j[keep]
    from scipy.stats import norm

    win = rng.random(i.size) < norm.cdf((q[i] - q[j]) / 1.4826)
    D = np.zeros((n, n))
    np.add.at(D, (np.where(win, i, j), np.where(win, j, i)), 1)
    t_jod = best_of(lambda: scale(D), 1 if quick else 3)
    t_bt = best_of(lambda: bradley_terry(D), 1)
    est = scale(D)
    err = np.abs((est - est.mean()) - (q - q.mean())).max()
    print(f"JOD 20 conditions, {int(D.sum())} judgments: {t_jod * 1e3:.1f} ms "
          f"(choix BT {t_bt * 1e3:.1f} ms; ratio BT/JOD {t_bt / t_jod:.2f}); "
          f"max |JOD - truth| {err:.3f}")


def bench_bootstrap(quick: bool) -> None:
    from stylestudy.analysis.jod import bootstrap, scale
    from stylestudy.analysis.simulate import simulate_study

    truth = {f"m{k}": v for k, v in enumerate(np.linspace(-1.5, 1.5, 8))}
    df = simulate_study(truth, n_workers=40, trials_per_worker=40, seed=1)
    from stylestudy.analysis.jod import observer_matrices

    _, MM = observer_matrices(df, list(truth))
    B = 100 if quick else 1000
    t_boot = best_of(lambda: bootstrap(MM, B, seed=0), 1)
    rng = np.random.default_rng(0)
    draws = [MM[rng.integers(0, 40, 40)].sum(axis=0) for _ in range(B)]
    t_cold = best_of(lambda: [scale(d) for d in draws], 1)
    print(f"bootstrap {B} samples (8 conditions, 40 observers, {int(MM.sum())} judgments): "
          f"{t_boot:.2f} s; {B} cold scalings {t_cold:.2f} s; ratio {t_cold / t_boot:.2f}")


def _interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds per function, the functions run in turn each round
    (alternating order) so that a change in the machine's load hits all of them alike."""
    names = list(fns)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            t, c = time.perf_counter(), time.process_time()
            fns[n]()
            wall[n].append(time.perf_counter() - t)
            cpu[n].append(time.process_time() - c)
    return {n: (float(np.median(wall[n])), float(np.median(cpu[n]))) for n in names}


def bench_ssim(quick: bool) -> None:
    """SSIM against skimage's Wang-compatible call, side by side and interleaved:
    one 512×512 RGB pair in float64, and a batch of 8 such pairs in float32."""
    import os

    from skimage.metrics import structural_similarity

    from stylestudy.analysis.ssim import ssim

    rng = np.random.default_rng(0)
    N = 8
    A = rng.integers(0, 256, (N, 512, 512, 3)).astype(np.uint8)
    B = np.clip(A + rng.normal(0, 20, A.shape), 0, 255).astype(np.uint8)
    kw = dict(data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
              channel_axis=-1)
    a64, b64 = A[0].astype(np.float64), B[0].astype(np.float64)
    a32, b32 = A.astype(np.float32), B.astype(np.float32)
    t64a = torch.from_numpy(a64).permute(2, 0, 1)[None]
    t64b = torch.from_numpy(b64).permute(2, 0, 1)[None]
    t32a = torch.from_numpy(a32).permute(0, 3, 1, 2).contiguous()
    t32b = torch.from_numpy(b32).permute(0, 3, 1, 2).contiguous()
    repeats = 3 if quick else 9
    load = os.getloadavg()
    single = _interleaved({
        "skimage": lambda: structural_similarity(a64, b64, **kw),
        "stylestudy": lambda: ssim(t64a, t64b, 255.0, "rgb")}, repeats)
    batch = _interleaved({
        "skimage": lambda: [structural_similarity(a32[k], b32[k], **kw) for k in range(N)],
        "stylestudy": lambda: ssim(t32a, t32b, 255.0, "rgb")}, repeats)
    diff64 = abs(structural_similarity(a64, b64, **kw) - float(ssim(t64a, t64b, 255.0, "rgb")))
    diff32 = np.abs(np.array([structural_similarity(a32[k], b32[k], **kw) for k in range(N)])
                    - ssim(t32a, t32b, 255.0, "rgb").numpy()).max()
    for name, res, per, diff in (("single 512x512 RGB pair, float64", single, 1, diff64),
                                 (f"batch of {N} pairs, float32, per pair", batch, N, diff32)):
        (sw, sc), (ow, oc) = res["skimage"], res["stylestudy"]
        print(f"SSIM {name}: skimage {sw / per * 1e3:.1f} ms wall ({sc / per * 1e3:.1f} ms "
              f"CPU); stylestudy {ow / per * 1e3:.1f} ms wall ({oc / per * 1e3:.1f} ms CPU); "
              f"wall ratio x{sw / ow:.2f}, CPU ratio x{sc / oc:.2f}; max |diff| {diff:.1e}")
    print(f"  medians of {repeats} interleaved runs; torch threads {torch.get_num_threads()}; "
          f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    args = ap.parse_args()
    bench_ssim(args.quick)
    bench_jod(args.quick)
    bench_bootstrap(args.quick)


if __name__ == "__main__":
    main()
