"""STROTSS: stylestudy against the official code (nkolkin13/STROTSS), side by side.

The official code is not part of stylestudy: fetch it into a folder outside the repository
(``OFFICIAL/STROTSS/*.py``) and apply only the CPU patches (docs/methods-strotss.md)
(VGG16 from a state dict named by ``STROTSS_VGG16``, the three ``.cuda()`` calls through
``utils.to_device``, uint8 before the final ``imwrite``, ``MAX_ITER`` from
``STROTSS_MAX_ITER``). Both sides load the same verified VGG16 (``stylestudy weights fetch
vgg16``).

    python benchmarks/strotss.py parity --official OFFICIAL --content C --style S
    python benchmarks/strotss.py speed --official OFFICIAL --content C --style S \\
        --size 256 --iterations 10 --repeats 2

    python benchmarks/strotss.py batch --content C --style S --pairs 4 --size 256 \\
        --iterations 10 [--device cuda]

``parity`` runs both implementations in the deterministic (strided) mode on the same images
and compares sample positions, hypercolumns, every loss term, the total and its gradient.
``speed`` runs each implementation in its own process (alternating, so contention hits
both alike) and prints seconds per scale (wall and process CPU), the ratio, and peak RSS.
``batch`` (ours only) times N pairs one after another against the same N pairs in one
``stylize_batch``, and prints seconds per output, the ratio and peak memory.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _official(path: str):
    sys.path.insert(0, str(Path(path).resolve()))
    mods = {n: importlib.import_module(f"STROTSS.{n}") for n in (
        "utils", "contextual_loss", "stylize_objectives", "vgg_pt", "st_helper",
        "styleTransfer")}
    mods["utils"].use_gpu = False
    return mods


def _vgg16_path() -> str:
    from stylestudy.generator.weights import REGISTRY, search_dirs

    for d in search_dirs():
        for name in (REGISTRY["vgg16"].stored, REGISTRY["vgg16"].torchvision):
            if (d / name).is_file():
                return str(d / name)
    sys.exit("vgg16 weights missing: run `stylestudy weights fetch vgg16`")


def _read(path: str) -> np.ndarray:
    from imageio import imread

    x = imread(path) / 255.0
    if x.ndim == 2:
        x = np.stack([x] * 3, 2)
    return x[:, :, :3].astype(np.float32)


def parity(args) -> None:
    os.environ["STROTSS_VGG16"] = _vgg16_path()
    off = _official(args.official)
    off["stylize_objectives"].use_random = False
    off["vgg_pt"].use_random = False
    from stylestudy.generator.strotss import losses as L
    from stylestudy.generator.strotss.features import Hypercolumn, gather_bilinear, gather_floor
    from stylestudy.generator.strotss.pyramid import laplacian_band, resize_long_side
    from stylestudy.generator.strotss.sampling import OutputSampler, style_positions
    from stylestudy.generator.vgg import vgg_features

    torch.set_num_threads(args.threads)
    feats, _ = vgg_features("vgg16")
    ours = Hypercolumn(feats)
    theirs = off["vgg_pt"].Vgg16_pt()
    utils = off["utils"]
    report: dict[str, float] = {}

    def rel(a, b) -> float:
        a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))

    for side in args.sides:
        c_t = utils.load_path_for_pytorch(args.content, side, force_scale=True).unsqueeze(0)
        s_t = utils.load_path_for_pytorch(args.style, side, force_scale=True).unsqueeze(0)
        c_o = resize_long_side(torch.from_numpy(_read(args.content)).permute(2, 0, 1)[None], side)
        s_o = resize_long_side(torch.from_numpy(_read(args.style)).permute(2, 0, 1)[None], side)
        report[f"{side}px image resize (content, style)"] = max(rel(c_o, c_t), rel(s_o, s_t))
        x = (s_t.mean(2, keepdim=True).mean(3, keepdim=True) + laplacian_band(c_t))
        x = x.requires_grad_(True)
        with torch.no_grad():
            zc_t = theirs.forward(c_t)
            zc_o, zs_o = ours(c_t), ours(s_t)
        zx_t, zx_o = theirs.forward(x), ours(x)
        report[f"{side}px hypercolumn maps"] = max(rel(a, b) for a, b in zip(zx_o, zx_t,
                                                                              strict=True))
        # positions, deterministic mode
        obj = off["stylize_objectives"].objective_class(objective="remd_dp_g")
        regions = [[np.ones((1, 1))], [np.ones((1, 1))]]
        z_s, _ = utils.load_style_folder(
            lambda im, n, r: theirs.forward_cat(im, r, samps=n, forward_func=theirs.forward),
            [args.style], regions, 0, n_samps=-1, subsamps=1000, scale=side, inner=5)
        r_full = np.ones((c_t.shape[3], c_t.shape[2]), bool)
        obj.init_inds(zc_t, [z_s], r_full, 0)
        xx, xy, _ = obj.get_feature_inds(ri=0)
        rng = np.random.default_rng(0)
        sampler = OutputSampler.grid(np.ones(c_t.shape[-2:], bool), rng, "strided")
        rows, cols = sampler.draw(rng)
        report[f"{side}px output positions (0 = identical)"] = float(
            not (np.array_equal(rows, xx) and np.array_equal(cols, xy)))
        sr, sc = style_positions(np.ones(s_t.shape[-2:], bool), rng, "strided")
        s_feat = gather_floor(zs_o, sr, sc)
        report[f"{side}px style hypercolumns (5000)"] = rel(s_feat, z_s[0][0, :, :, 0].t())
        x_st, c_st = obj.spatial_feature_extract(zx_t, zc_t, xx, xy)
        xs, cs = gather_bilinear([zx_o, zc_o], rows, cols)
        report[f"{side}px output/content hypercolumns"] = max(
            rel(xs, x_st[0, :-2, :, 0].t()), rel(cs, c_st[0, :-2, :, 0].t()))
        # loss terms on identical feature sets (the official ones)
        X, C = x_st[0, :-2, :, 0].t(), c_st[0, :-2, :, 0].t()
        S = z_s[0][0, :, :, 0].t()
        st = L.StyleStats.from_features(S, keys=np.stack([sr, sc], 1))
        cl = off["contextual_loss"]
        fm = 2179
        zst = S.t().reshape(1, fm, -1, 1)
        terms = {
            "remd": (L.remd_cosine(X, st.unit, st.weight),
                     cl.remd_loss(x_st[:, :fm], zst, obj.z_dist, splits=[fm])[0]),
            "moment": (L.moment_loss(X, st.mean, st.cov),
                       cl.moment_loss(x_st[:, :-2], zst, moments=[1, 2])),
            "palette": (L.remd_palette(X[:, :3], st.yuv, st.weight),
                        cl.remd_loss(x_st[:, :3], zst[:, :3], obj.z_dist, splits=[3])[0]),
            "content": (L.self_similarity_loss(X, C), cl.dp_loss(x_st, c_st)),
        }
        for k, (a, b) in terms.items():
            report[f"{side}px loss {k} (ours {float(a):.6g})"] = rel(a.detach(), b.detach())
        alpha = 16.0
        total_o = L.combine(*(terms[k][0] for k in ("content", "remd", "moment", "palette")),
                            alpha)
        total_t = obj.eval(zx_t, zc_t, [z_s], np.array([0.0]), 0.0, content_weight=alpha,
                           moment_weight=1.0)
        report[f"{side}px total loss"] = rel(total_o.detach(), total_t.detach())
        (g_t,) = torch.autograd.grad(total_t, x, retain_graph=True)
        (g_o,) = torch.autograd.grad(total_o, x)
        report[f"{side}px gradient wrt the image"] = rel(g_o, g_t)
    width = max(len(k) for k in report)
    for k, v in report.items():
        print(f"{k:<{width}}  max rel. diff {v:.2e}")
    print("max over loss terms and totals:",
          f"{max(v for k, v in report.items() if 'loss' in k):.2e}")


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _summarise(total: tuple[float, float], ticks: list[tuple[float, float]]) -> dict:
    """Per-scale wall/CPU: total, median seconds per iteration, and setup = the rest."""
    d = np.diff(np.asarray(ticks), axis=0)
    per_it = np.median(d, axis=0)
    n = len(ticks)
    return {"wall_s": total[0], "cpu_s": total[1], "iter_wall_s": float(per_it[0]),
            "iter_cpu_s": float(per_it[1]), "iterations": n,
            "setup_wall_s": max(total[0] - n * float(per_it[0]), 0.0),
            "setup_cpu_s": max(total[1] - n * float(per_it[1]), 0.0)}


def _run(args) -> None:
    """One timed run in this process; prints a JSON line."""
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    scales: list[dict] = []
    ticks: list[tuple[float, float]] = []
    if args.impl == "official":
        os.environ["STROTSS_VGG16"] = _vgg16_path()
        os.environ["STROTSS_MAX_ITER"] = str(args.iterations)
        off = _official(args.official)
        st_helper, run_st = off["st_helper"], off["styleTransfer"]
        orig = st_helper.style_transfer
        objective = off["stylize_objectives"].objective_class
        orig_eval = objective.gen_remd_dp_objective_guided

        def timed_eval(self, *a, **k):
            ticks.append(_clock())
            return orig_eval(self, *a, **k)

        objective.gen_remd_dp_objective_guided = timed_eval

        def timed(*a, **k):
            t0 = _clock()
            ticks.clear()
            out = orig(*a, **k)
            t1 = _clock()
            scales.append(_summarise((t1[0] - t0[0], t1[1] - t0[1]), list(ticks)))
            return out

        run_st.style_transfer = timed
        from imageio import imread

        k = int(np.log2(args.size / 64)) + 2
        regions = [[imread(args.content)[:, :, 0] * 0.0 + 1.0],
                   [imread(args.style)[:, :, 0] * 0.0 + 1.0]]
        out = str(Path(args.out) / "official.png")
        cwd = os.getcwd()
        os.chdir(args.out)  # its preview files go to ./
        try:
            run_st.run_st(args.content, args.style, 16.0, k, 0.0, False, regions,
                          output_path=out)
        finally:
            os.chdir(cwd)
    else:
        from stylestudy.generator.strotss import Config, Hypercolumn, stylize
        from stylestudy.generator.vgg import vgg_features

        t0 = _clock()
        feats, _ = vgg_features("vgg16")
        hyper = Hypercolumn(feats)
        start = [t0]

        def progress(i, n):
            ticks.append(_clock())
            if i == n - 1:  # the last step of a scale; its final forward follows
                t1 = _clock()
                scales.append(_summarise((t1[0] - start[0][0], t1[1] - start[0][1]),
                                         list(ticks)))
                ticks.clear()
                start[0] = t1

        stylize(_read(args.content), _read(args.style), hyper,
                Config(size=args.size, iterations=args.iterations), seed=0, progress=progress)
    print(json.dumps({"impl": args.impl, "scales": scales,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def speed(args) -> None:
    results: dict[str, list[dict]] = {"official": [], "ours": []}
    os.makedirs(args.out, exist_ok=True)
    for rep in range(args.repeats):
        for impl in ("official", "ours") if rep % 2 == 0 else ("ours", "official"):
            cmd = [sys.executable, __file__, "_run", impl, "--official", args.official,
                   "--content", args.content, "--style", args.style, "--size", str(args.size),
                   "--iterations", str(args.iterations), "--threads", str(args.threads),
                   "--out", args.out]
            load = os.getloadavg()[0]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True
                                  ).stdout.strip().splitlines()[-1]
            r = json.loads(line)
            r["load_before"] = load
            results[impl].append(r)
            print(json.dumps(r), flush=True)
    n = len(results["ours"][0]["scales"])
    print(f"\nsize {args.size}, {args.iterations} iterations per scale measured, "
          f"{args.threads} threads, best of {args.repeats} alternating runs")
    for unit in ("cpu", "wall"):
        print(f"\n{unit}: s/iteration and setup per scale; a 250-iteration output extrapolated")
        print(f"{'scale':<7}{'official it':>12}{'ours it':>9}{'ratio':>7}"
              f"{'official setup':>16}{'ours setup':>12}")
        tot = {"official": 0.0, "ours": 0.0}
        for k in range(n):
            best = {impl: min((r["scales"][k] for r in results[impl]),
                              key=lambda s: s[f"iter_{unit}_s"]) for impl in results}
            for impl in results:
                tot[impl] += best[impl][f"setup_{unit}_s"] + 250 * best[impl][f"iter_{unit}_s"]
            o, u = best["official"], best["ours"]
            print(f"{64 * 2 ** k:<7}{o[f'iter_{unit}_s']:>12.3f}{u[f'iter_{unit}_s']:>9.3f}"
                  f"{o[f'iter_{unit}_s'] / u[f'iter_{unit}_s']:>7.2f}"
                  f"{o[f'setup_{unit}_s']:>16.2f}{u[f'setup_{unit}_s']:>12.2f}")
        print(f"output (250 it/scale): official {tot['official']:.0f} s, ours {tot['ours']:.0f} s,"
              f" ratio {tot['official'] / tot['ours']:.2f}")
    for impl in results:
        print(f"peak RSS {impl}: {max(r['max_rss_mb'] for r in results[impl]):.0f} MB")


def batch(args) -> None:
    from stylestudy.generator.strotss import Config, Hypercolumn, Task, stylize_batch
    from stylestudy.generator.vgg import vgg_features

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    feats, _ = vgg_features("vgg16", device=device)
    hyper = Hypercolumn(feats).to(device)
    content, style = _read(args.content), _read(args.style)
    tasks = [Task(content, style, seed=i) for i in range(args.pairs)]
    cfg = Config(size=args.size, iterations=args.iterations)
    cuda = device.type == "cuda"

    def timed(groups: list[list[Task]]) -> tuple[float, float]:
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        for g in groups:
            stylize_batch(g, hyper, cfg)
        if cuda:
            torch.cuda.synchronize(device)
        peak = (torch.cuda.max_memory_allocated(device) if cuda else
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        return (time.perf_counter() - t0) / len(tasks), peak / 2 ** 20

    timed([tasks[:1]])  # warm-up
    best = {"one by one": (float("inf"), 0.0), "batched": (float("inf"), 0.0)}
    for _ in range(args.repeats):
        for name, groups in (("one by one", [[t] for t in tasks]), ("batched", [tasks])):
            sec, mem = timed(groups)
            best[name] = (min(best[name][0], sec), max(best[name][1], mem))
    print(f"{args.pairs} pairs, size {args.size}, {args.iterations} iterations per scale, "
          f"{device}, best of {args.repeats}")
    for name, (sec, mem) in best.items():
        kind = "max allocated" if cuda else "process peak RSS"
        print(f"{name:<11} {sec:8.2f} s/output   {kind} {mem:8.0f} MB")
    print(f"ratio one-by-one / batched: {best['one by one'][0] / best['batched'][0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("parity", "speed", "_run", "batch"):
        p = sub.add_parser(name)
        if name == "_run":
            p.add_argument("impl", choices=("official", "ours"))
        if name == "batch":
            p.add_argument("--pairs", type=int, default=4)
            p.add_argument("--device", default="cpu")
        else:
            p.add_argument("--official", required=True, help="folder that holds STROTSS/")
        p.add_argument("--content", required=True)
        p.add_argument("--style", required=True)
        p.add_argument("--threads", type=int, default=2)
        if name == "parity":
            p.add_argument("--sides", type=int, nargs="+", default=[64, 128])
        else:
            p.add_argument("--size", type=int, default=256)
            p.add_argument("--iterations", type=int, default=10)
            p.add_argument("--out", default=os.path.join(tempfile.gettempdir(),
                                                          "strotss-bench"))
        if name in ("speed", "batch"):
            p.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    {"parity": parity, "speed": speed, "_run": _run, "batch": batch}[args.cmd](args)


if __name__ == "__main__":
    main()
