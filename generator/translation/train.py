"""The training loop: unpaired batches, progress, atomic checkpoints, resume after kill -9.

One checkpoint file, ``ckpt.pt`` in the output folder, holds the recorded config, every
network and optimiser, the RNG states and the position (stage, iteration). A re-run with the
same arguments continues from it; a finished run (``done``) is the model the generator
methods load (``weights_only=True``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stylestudy.errors import UserError
from stylestudy.fileio import atomic_path
from stylestudy.generator.datasets import load_digit_set
from stylestudy.generator.translation.egscit import ABLATIONS
from stylestudy.generator.translation.models import TranslatorModel, build_model
from stylestudy.generator.translation.profiles import check_variant, profile

__all__ = ["train", "load_translator", "read_checkpoint", "to_tensor", "augment", "CKPT_NAME",
           "FORMAT"]

CKPT_NAME = "ckpt.pt"
FORMAT = "stylestudy-translator/1"
#: config keys that must match for a re-run to resume a checkpoint
RESUME_KEYS = ("method", "variant", "profile", "ablation", "adain_variant", "seed", "data_sha256",
               "size", "norm")


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [−1, 1] ((x − 127.5)/127.5, as released)."""
    return (torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
            - 127.5) / 127.5


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Released training augmentation: horizontal flip (p = ½) and, with p = ½, a zoom-crop
    of 80–100 % of the side warped back bilinearly (``utils.data_augment``)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    zoom = torch.rand(n, generator=gen) < 0.5
    scale = torch.where(zoom, 0.8 + 0.2 * torch.rand(n, generator=gen), torch.ones(n))
    shift = (1 - scale) * (2 * torch.rand(2, n, generator=gen) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale, scale
    theta[:, 0, 2], theta[:, 1, 2] = shift[0], shift[1]
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


#: a model's fixed pretrained loss networks (EGSC-IT's VGG19, MUNIT's VGG16): rebuilt from
#: the verified weights file on every load, never stored in a checkpoint
FROZEN = ("perceptual.", "vgg.")


def _trained(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if not k.startswith(FROZEN)}


def _load_trained(model: TranslatorModel, state: dict[str, Any]) -> None:
    """Load a checkpoint's trained weights (a loss network it may hold is ignored); every
    trained weight of the model must be in it."""
    missing, unexpected = model.load_state_dict(_trained(state), strict=False)
    wrong = [k for k in missing if not k.startswith(FROZEN)] + list(unexpected)
    if wrong:
        raise UserError(f"the checkpoint does not fit the {type(model).__name__} network it "
                        f"names ({len(wrong)} weights differ, e.g. {wrong[0]})")


def _model_state(model: TranslatorModel) -> dict[str, Any]:
    state = {"model": _trained(model.state_dict()),
             "optim": {k: o.state_dict() for k, o in model.optimizers().items()}}
    if hasattr(model, "extra_state"):
        state["extra"] = model.extra_state()
    return state


def _load_model_state(model: TranslatorModel, state: dict[str, Any]) -> None:
    _load_trained(model, state["model"])
    for k, o in model.optimizers().items():
        o.load_state_dict(state["optim"][k])
    if "extra" in state:
        model.load_extra_state(state["extra"])


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A translator checkpoint as saved (finished or not), or one clear error."""
    return _read_ckpt(Path(path))


def _read_ckpt(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
        raise UserError(f"cannot read checkpoint {path}: not a loadable torch checkpoint "
                        f"({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not a stylestudy translator checkpoint")
    return ckpt


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda requested but no CUDA device is available")
    return device


def train(method: str, data: str | os.PathLike, profile_name: str, out: str | os.PathLike,
          seed: int = 0, device: str = "auto", ablation: str = "none",
          adain_variant: str = "textbook", allow_random_weights: bool = False,
          progress: bool = True, norm: str | None = None, variant: str | None = None) -> Path:
    """Train (or resume) ``method`` on a digit data set; returns the checkpoint path."""
    from tqdm import tqdm

    if ablation not in ABLATIONS or (ablation != "none" and method != "egsc-it"):
        raise UserError(f"ablation {ablation!r} is not valid for {method} "
                        f"(egsc-it ablations: {', '.join(ABLATIONS)})")
    if norm not in (None, "in") or (norm is not None and method != "egsc-it"):
        raise UserError(f"--norm {norm} is only valid for egsc-it (none or in)")
    if adain_variant not in ("textbook", "code"):
        raise UserError(f"--adain-variant must be 'textbook' or 'code', got {adain_variant!r}")
    variant = check_variant(method, variant)
    prof = profile(method, profile_name, variant)
    ds = load_digit_set(data)
    device = resolve_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CKPT_NAME
    config = {"method": method, "variant": variant, "profile": prof, "ablation": ablation,
              "adain_variant": adain_variant, "norm": norm, "seed": seed, "size": ds.size,
              "data_sha256": ds.meta["sha256"], "data": ds.meta["name"],
              "data_seed": ds.meta["seed"], "allow_random_weights": allow_random_weights}
    ckpt = _read_ckpt(ckpt_path) if ckpt_path.exists() else None
    if ckpt is not None:
        diff = [k for k in RESUME_KEYS if ckpt["config"].get(k) != config[k]]
        if diff:
            raise UserError(f"{ckpt_path} was trained with different {', '.join(diff)}; "
                            "use another --out folder")
        if ckpt["done"]:
            return ckpt_path
    model = build_model(config).to(device)
    sampler = torch.Generator().manual_seed(seed)
    stage_i, it0, wall0, log = 0, 0, 0.0, []
    if ckpt is not None:
        _load_model_state(model, ckpt["state"])
        sampler.set_state(ckpt["rng"]["sampler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        stage_i, it0 = ckpt["stage"], ckpt["iteration"]
        wall0, log = ckpt["wall_s"], list(ckpt["log"])
    model.train()
    xa_all = to_tensor(ds.arrays["train"]["A"])
    xb_all = to_tensor(ds.arrays["train"]["B"])
    bs = prof["batch"]

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        ia = torch.randint(len(xa_all), (bs,), generator=sampler)
        ib = torch.randint(len(xb_all), (bs,), generator=sampler)
        return (augment(xa_all[ia], sampler).to(device),
                augment(xb_all[ib], sampler).to(device))

    provenance = {"torch": str(torch.__version__), "device": device,
                  "weights_used": model.weights_used, "data": ds.meta}
    t0 = time.perf_counter()

    def save(stage_i: int, it: int, done: bool) -> None:
        _save_atomic({"format": FORMAT, "config": config, "stage": stage_i, "iteration": it,
                      "done": done, "state": _model_state(model),
                      "rng": {"sampler": sampler.get_state(), "torch": torch.get_rng_state()},
                      "wall_s": wall0 + time.perf_counter() - t0, "log": log,
                      "provenance": provenance}, ckpt_path)

    for si in range(stage_i, len(model.stages)):
        stage, n = model.stages[si], model.iterations(model.stages[si])
        start = it0 if si == stage_i else 0
        if start == 0:
            model.begin_stage(stage)
        bar = tqdm(range(start, n), initial=start, total=n, disable=not progress,
                   desc=f"{method} {stage}", unit="it")
        for it in bar:
            model.set_lr(stage, it)
            losses = model.train_step(stage, draw)
            if not all(np.isfinite(v) for v in losses.values()):
                raise UserError(f"{method} {stage} iteration {it}: non-finite loss {losses}")
            bar.set_postfix(losses)
            log.append({"stage": stage, "it": it, **losses})
            if (it + 1) % prof["ckpt_every"] == 0 and it + 1 < n:
                save(si, it + 1, False)
        save(si + 1, 0, si + 1 == len(model.stages))
    summary = {"method": method, "profile": profile_name, "ablation": ablation, "seed": seed,
               "device": device, "wall_s": wall0 + time.perf_counter() - t0,
               "sha256": hashlib.sha256(ckpt_path.read_bytes()).hexdigest()}
    (out / "train.json").write_text(json.dumps(summary, indent=2))
    return ckpt_path


def load_translator(path: str | os.PathLike, device: str = "cpu"
                    ) -> tuple[TranslatorModel, dict[str, Any]]:
    """A finished checkpoint → (model in eval mode, record with SHA-256 and provenance)."""
    path = Path(path)
    ckpt = _read_ckpt(path)
    if not ckpt["done"]:
        raise UserError(f"{path} is an unfinished training run (stage {ckpt['stage']}, "
                        f"iteration {ckpt['iteration']}); re-run `stylestudy train` to finish it")
    config = dict(ckpt["config"], allow_random_weights=True)
    model = build_model(config)
    _load_trained(model, ckpt["state"]["model"])
    model.to(device).eval()
    record = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "path": str(path),
              "method": config["method"], "variant": config.get("variant"),
              "profile": config["profile"]["name"],
              "ablation": config["ablation"], "adain_variant": config["adain_variant"],
              "norm": config.get("norm"),
              "seed": config["seed"], "size": config["size"], "data": config["data"],
              "data_sha256": config["data_sha256"], "wall_s": ckpt["wall_s"],
              "weights_used": ckpt["provenance"]["weights_used"],
              "device_trained": ckpt["provenance"]["device"],
              "calibrated": all(r.get("calibrated", True) for r in
                                ckpt["provenance"]["weights_used"].values())}
    return model, record
