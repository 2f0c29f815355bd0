"""ASAP active sampling: scale accuracy against balanced sampling, and time per batch.

accuracy  Simulated Thurstone observers (pwcmp's σ = 1.4826: 1 JOD = 75 % preference) judge
          N conditions with true scores drawn uniformly over ``--spread`` JOD. After a warm-up
          (``all``: every pair once, as a study's first ``judgments_per_cell``; ``tree``: one
          random spanning tree, ASAP's own warm-up), each round adds N − 1 judgments: the
          pairs ASAP chooses (stylestudy.analysis.asap) or, as references, the next N − 1 pairs
          of a shuffled cycle over all pairs (a balanced design) and N − 1 uniformly random
          pairs. Prints the RMSE of the pwcmp JOD scale (mean 0) against the truth after
          given numbers of rounds, and the ratios.
speed     Seconds per batch for N conditions; with ``--official FILE`` (gfxdisp/asap's
          python/asap_cpu.py, kept outside the repository; needs networkx) the official
          ``ASAP(N).run_asap(M)`` on the same count matrix, and the ratio.

    python benchmarks/asap.py accuracy [--quick]
    python benchmarks/asap.py speed [--official FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np  # noqa: E402
from scipy.special import ndtr  # noqa: E402

from stylestudy.analysis.asap import next_pairs  # noqa: E402

SIGMA = 1.4826  # analysis/jod.py: pwcmp's observer σ in JOD units


def _judge(D: np.ndarray, pairs, truth: np.ndarray, rng: np.random.Generator) -> None:
    for i, j in pairs:
        if rng.random() < ndtr((truth[i] - truth[j]) / SIGMA):
            D[i, j] += 1
        else:
            D[j, i] += 1


def _rmse(D: np.ndarray, truth: np.ndarray) -> float:
    from stylestudy.analysis.jod import scale

    q = scale(D)
    return float(np.sqrt(np.mean((q - (truth - truth.mean())) ** 2)))


def accuracy(args) -> None:
    n, reps = args.n, (6 if args.quick else args.reps)
    checkpoints = [5, 10, 20] if args.quick else [5, 10, 20, 40]
    all_pairs = list(itertools.combinations(range(n), 2))
    err = {s: {c: [] for c in checkpoints} for s in ("asap", "balanced", "random")}
    t0 = time.perf_counter()
    for rep in range(reps):
        truth = np.random.default_rng(1000 + rep).uniform(0, args.spread, n)
        for strategy in err:
            rng = np.random.default_rng(rep)  # same observers' draws for both strategies
            D = np.zeros((n, n))
            warm = (all_pairs if args.warmup == "all"
                    else next_pairs(np.zeros((n, n), int), np.random.default_rng(rep)))
            _judge(D, warm, truth, rng)
            cycle = []
            for rnd in range(1, checkpoints[-1] + 1):
                if strategy == "asap":
                    pairs = next_pairs(D.astype(int), rng, approx=args.approx)
                elif strategy == "random":
                    pairs = [all_pairs[k] for k in rng.integers(0, len(all_pairs), n - 1)]
                else:
                    while len(cycle) < n - 1:
                        cycle += [all_pairs[k] for k in rng.permutation(len(all_pairs))]
                    pairs, cycle = cycle[:n - 1], cycle[n - 1:]
                _judge(D, pairs, truth, rng)
                if rnd in err[strategy]:
                    err[strategy][rnd].append(_rmse(D, truth))
    mode = "approx" if args.approx else "full"
    n_warm = len(all_pairs) if args.warmup == "all" else n - 1
    print(f"N = {n} conditions, true scores U(0, {args.spread}) JOD, {reps} repetitions, "
          f"warm-up '{args.warmup}' ({n_warm} judgments), then {n - 1} per round; ASAP {mode} "
          f"({time.perf_counter() - t0:.0f} s)")
    print("RMSE of the JOD scale (mean ± standard error over repetitions)")
    print("rounds  judgments  balanced        random          ASAP            "
          "ASAP/balanced  ASAP/random")

    def cell(k: str, c: int) -> str:
        v = np.array(err[k][c])
        return f"{v.mean():.3f} ± {v.std() / np.sqrt(reps):.3f}   "

    for c in checkpoints:
        a = np.mean(err["asap"][c])
        print(f"{c:6d}  {n_warm + c * (n - 1):9d}  {cell('balanced', c)}{cell('random', c)}"
              f"{cell('asap', c)}{a / np.mean(err['balanced'][c]):13.2f}"
              f"  {a / np.mean(err['random'][c]):11.2f}")


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def speed(args) -> None:
    official = None
    if args.official:
        spec = importlib.util.spec_from_file_location("asap_official", args.official)
        official = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(official)
        import networkx as nx

        if not hasattr(nx, "from_numpy_matrix"):  # networkx 3 renamed it
            nx.from_numpy_matrix = nx.from_numpy_array
    print("N   judgments  ours full (s)  ours approx (s)" + ("  official full (s)  ratio"
                                                           if official else ""))
    for n in args.sizes:
        rng = np.random.default_rng(n)
        M = rng.integers(0, 4, (n, n))
        np.fill_diagonal(M, 0)
        full = _best(lambda M=M: next_pairs(M, np.random.default_rng(0)), args.repeats)
        approx = _best(lambda M=M: next_pairs(M, np.random.default_rng(0), approx=True),
                       args.repeats)
        line = f"{n:<3d} {M.sum():9d}  {full:13.4f}  {approx:15.4f}"
        if official:
            off = _best(lambda n=n, M=M: official.ASAP(n).run_asap(M.copy()), args.repeats)
            line += f"  {off:17.4f}  {off / full:5.1f}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--n", type=int, default=10)
    a.add_argument("--spread", type=float, default=3.0)
    a.add_argument("--reps", type=int, default=30)
    a.add_argument("--approx", action="store_true")
    a.add_argument("--warmup", choices=["all", "tree"], default="all")
    a.add_argument("--quick", action="store_true")
    s = sub.add_parser("speed")
    s.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20])
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--official", help="gfxdisp/asap python/asap_cpu.py (outside the repo)")
    args = ap.parse_args()
    accuracy(args) if args.what == "accuracy" else speed(args)


if __name__ == "__main__":
    main()
