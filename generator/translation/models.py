"""Trainable wrappers: networks, optimisers, one training step and inference per method.

Each model owns its stages, its optimisers and its learning-rate schedule; the loop in
:mod:`stylestudy.generator.translation.train` draws batches, checkpoints and resumes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stylestudy.generator.translation.baselines import (
    AdaINGen,
    CoDis32,
    CoVAE32,
    MsImageDis,
    NLayerDiscriminator,
    ResnetGenerator,
)
from stylestudy.generator.translation.blocks import init_weights
from stylestudy.generator.translation.egscit import EGSCIT, EGSCConfig, VAEGANRecon
from stylestudy.generator.translation.losses import (
    PerceptualLoss,
    kl,
    load_munit_vgg,
    load_vgg,
    lsgan_d,
    lsgan_g,
)

__all__ = ["TranslatorModel", "build_model", "MODEL_CLASSES", "VARIANT_CLASSES"]

Batch = Callable[[], tuple[torch.Tensor, torch.Tensor]]
ADAM_BETAS = (0.5, 0.999)


class TranslatorModel(nn.Module, ABC):
    """A two-domain translator with its training state."""

    stages: tuple[str, ...] = ("train",)

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config
        self.prof = config["profile"]
        self.weights_used: dict[str, dict[str, Any]] = {}

    def iterations(self, stage: str) -> int:
        return int(self.prof["iters"][self.stages.index(stage)])

    def begin_stage(self, stage: str) -> None:  # noqa: B027 - optional hook
        """Called once when a stage starts from iteration 0."""

    @abstractmethod
    def set_lr(self, stage: str, it: int) -> None: ...

    @abstractmethod
    def train_step(self, stage: str, draw: Batch) -> dict[str, float]:
        """One iteration of ``stage`` (it may draw several batches)."""

    @abstractmethod
    def translate(self, x: torch.Tensor, exemplar: torch.Tensor, src: str,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """x of domain ``src`` in [−1, 1] → the other domain, guided by ``exemplar``."""

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.optim.Optimizer)}


def _adam(params, lr: float, wd: float = 0.0) -> torch.optim.Adam:
    return torch.optim.Adam([p for p in params if p.requires_grad], lr=lr, betas=ADAM_BETAS,
                            weight_decay=wd)


def _set_lr(opts: list[torch.optim.Optimizer], lr: float) -> None:
    for opt in opts:
        for group in opt.param_groups:
            group["lr"] = lr


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


class _Frozen:
    """Context: parameters of ``modules`` need no gradient inside the block."""

    def __init__(self, *modules: nn.Module):
        self.params = [p for m in modules for p in m.parameters() if p.requires_grad]

    def __enter__(self) -> None:
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for p in self.params:
            p.requires_grad_(True)


# --------------------------------------------------------------------------- EGSC-IT
class EGSCITModel(TranslatorModel):
    """EGSC-IT, stage 1 (``UNIT_VAEGAN_recon``) then stage 2; 1 D step + ``g_update`` G
    steps per iteration, poly lr decay (1 − it/N)^0.9 (``trainer_EGSCIT.train``)."""

    stages: tuple[str, ...] = ("stage1", "stage2")
    #: position of each stage's settings in the profile's ``iters`` and ``g_update``
    STAGE_INDEX = {"stage1": 0, "stage2": 1}

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        use_mask, use_adain, perceptual = self.parts(config["ablation"])
        cfg = EGSCConfig(**self.prof["net"], use_mask=use_mask, use_adain=use_adain,
                         adain_variant=config["adain_variant"], norm=config.get("norm"))
        self.loss_w = dict(self.prof["loss"])
        if not perceptual:
            self.loss_w.update(style=0.0, content=0.0)
        lr = self.prof["lr"]
        if "stage1" in self.stages:
            self.s1_a, self.s1_b = VAEGANRecon(cfg), VAEGANRecon(cfg)
            s1_g = [p for s in (self.s1_a, self.s1_b) for n, p in s.named_parameters()
                    if not n.startswith("dis.")]
            self.opt_g1 = _adam(s1_g, lr)
            self.opt_d1 = _adam([*self.s1_a.dis.parameters(), *self.s1_b.dis.parameters()], lr)
        self.net = EGSCIT(cfg)
        self.opt_g2 = _adam(self.net.generator_parameters(), lr)
        self.opt_d2 = _adam(self.net.discriminator_parameters(), lr)
        taps = tuple(self.prof["vgg_taps"])
        self.perceptual = None
        if taps and (self.loss_w["style"] or self.loss_w["content"]):
            vgg, record = load_vgg(taps, config["allow_random_weights"], config["seed"])
            self.perceptual = PerceptualLoss(vgg)
            self.weights_used["vgg19-caffe-q8"] = record

    @staticmethod
    def parts(ablation: str) -> tuple[bool, bool, bool]:
        """(feature mask, AdaIN, perceptual losses) under ``ablation``."""
        return ablation != "no-mask", ablation != "no-adain", ablation != "no-perceptual"

    def iterations(self, stage: str) -> int:
        return int(self.prof["iters"][self.STAGE_INDEX[stage]])

    def set_lr(self, stage: str, it: int) -> None:
        n = self.iterations(stage)
        lr = self.prof["lr"] * (1 - it / n) ** 0.9
        _set_lr([self.opt_g1, self.opt_d1] if stage == "stage1" else
                [self.opt_g2, self.opt_d2], lr)

    def begin_stage(self, stage: str) -> None:
        if stage == "stage2" and self.net.guided:
            self.net.load_stage1(self.s1_a, self.s1_b)

    def train_step(self, stage: str, draw: Batch) -> dict[str, float]:
        g_update = self.prof["g_update"][self.STAGE_INDEX[stage]]
        fn = self._stage1 if stage == "stage1" else self._stage2
        d = fn(*draw(), train_g=False)
        for _ in range(g_update):
            g = fn(*draw(), train_g=True)
        return {"d": d["total"], "g": g.pop("total"), **g}

    def _stage1(self, xa: torch.Tensor, xb: torch.Tensor, train_g: bool) -> dict[str, float]:
        w = self.loss_w
        total = xa.new_zeros(())
        terms = {"gan": 0.0, "l1": 0.0, "kl": 0.0}
        for s, x in ((self.s1_a, xa), (self.s1_b, xb)):
            if not train_g:
                with torch.no_grad():
                    recon, _ = s(x)
                total = total + w["gan"] * lsgan_d(s.dis(x), s.dis(recon))
                continue
            with _Frozen(s.dis):
                recon, shared = s(x)
                parts = {"gan": lsgan_g(s.dis(recon)), "l1": F.l1_loss(recon, x),
                         "kl": kl(shared)}
                total = total + sum(w[k] * v for k, v in parts.items())
                for k, v in parts.items():
                    terms[k] += v.item()
        _step(self.opt_g1 if train_g else self.opt_d1, total)
        return {"total": total.item(), **terms} if train_g else {"total": total.item()}

    def _stage2(self, xa: torch.Tensor, xb: torch.Tensor, train_g: bool) -> dict[str, float]:
        w, net = self.loss_w, self.net
        if not train_g:
            with torch.no_grad():
                out = net.forward_train(xa, xb)
            loss = w["gan"] * (lsgan_d(net.dis_a(xa), net.dis_a(out["x_ba"])) +
                               lsgan_d(net.dis_b(xb), net.dis_b(out["x_ab"])))
            _step(self.opt_d2, loss)
            return {"total": loss.item()}
        with _Frozen(net.dis_a, net.dis_b):
            out = net.forward_train(xa, xb)
            parts = {
                "gan": lsgan_g(net.dis_a(out["x_ba"])) + lsgan_g(net.dis_b(out["x_ab"])),
                "l1": F.l1_loss(out["x_aa"], xa) + F.l1_loss(out["x_bb"], xb),
                "l1_cycle": F.l1_loss(out["x_aba"], xa) + F.l1_loss(out["x_bab"], xb),
                "kl": 2 * kl(out["shared"]),  # KL(shared) is in both domains' G losses
                "kl_cycle": kl(out["shared_aba"]) + kl(out["shared_bab"])}
            if self.perceptual is not None:
                parts["content"], parts["style"] = self.perceptual(xa, xb, out["x_ab"],
                                                                   out["x_ba"])
            loss = sum(w[k] * v for k, v in parts.items())
        _step(self.opt_g2, loss)
        return {"total": loss.item(), **{k: v.item() for k, v in parts.items()}}

    def translate(self, x, exemplar, src, generator=None):
        return self.net.translate(x, exemplar, src, generator)


class EGSCUNITModel(EGSCITModel):
    """UNIT as EGSC-IT's paper trained it: EGSC-IT's stage-2 network and losses without the
    feature mask, AdaIN and perceptual losses, so without stage 1 (``trainer_EGSCIT.UNIT``,
    run ``unit_noNorm_InsNormDis_..._5G1D``; settings of the same EGSC-IT profile)."""

    stages = ("stage2",)

    @staticmethod
    def parts(ablation: str) -> tuple[bool, bool, bool]:
        return False, False, False

# --------------------------------------------------------------------------- CycleGAN
class ImagePool:
    """CycleGAN's history of 50 fakes: with p = ½ a stored fake replaces the new one."""

    def __init__(self, size: int):
        self.size, self.images = size, []

    def query(self, fakes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        out = []
        for img in fakes.detach():
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand((), generator=gen)) > 0.5:
                j = int(torch.randint(self.size, (), generator=gen))
                out.append(self.images[j].clone())
                self.images[j] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


class CycleGANModel(TranslatorModel):
    """CycleGAN: G step (LSGAN + 10·cycle + 0.5·10·identity) then D step on pooled fakes;
    constant lr, then linear decay to 0 from ``decay_from`` (CycleGAN's ``train_options.py``)."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        n = self.prof["net"]
        self.g_ab, self.g_ba = ResnetGenerator(n["ngf"], n["n_blocks"]), \
            ResnetGenerator(n["ngf"], n["n_blocks"])
        self.d_b, self.d_a = NLayerDiscriminator(n["ndf"], 3), NLayerDiscriminator(n["ndf"], 3)
        init_weights(self, "normal", 0.02)
        self.opt_g = _adam([*self.g_ab.parameters(), *self.g_ba.parameters()], self.prof["lr"])
        self.opt_d = _adam([*self.d_a.parameters(), *self.d_b.parameters()], self.prof["lr"])
        self.pool_a, self.pool_b = ImagePool(self.prof["pool"]), ImagePool(self.prof["pool"])
        self.pool_gen = torch.Generator().manual_seed(config["seed"])

    def set_lr(self, stage: str, it: int) -> None:
        n, start = self.iterations(stage), self.prof["decay_from"]
        factor = 1.0 if it < start else 1.0 - (it - start) / max(n - start, 1)
        _set_lr([self.opt_g, self.opt_d], self.prof["lr"] * factor)

    def train_step(self, stage: str, draw: Batch) -> dict[str, float]:
        xa, xb = draw()
        lam, idt = self.prof["loss"]["cycle"], self.prof["loss"]["idt"]
        with _Frozen(self.d_a, self.d_b):
            fake_b, fake_a = self.g_ab(xa), self.g_ba(xb)
            loss_g = (lsgan_g(self.d_b(fake_b)) + lsgan_g(self.d_a(fake_a))
                      + lam * (F.l1_loss(self.g_ba(fake_b), xa) + F.l1_loss(self.g_ab(fake_a), xb))
                      + lam * idt * (F.l1_loss(self.g_ab(xb), xb) + F.l1_loss(self.g_ba(xa), xa)))
        _step(self.opt_g, loss_g)
        pb = self.pool_b.query(fake_b, self.pool_gen)
        pa = self.pool_a.query(fake_a, self.pool_gen)
        loss_d = lsgan_d(self.d_b(xb), self.d_b(pb)) + lsgan_d(self.d_a(xa), self.d_a(pa))
        _step(self.opt_d, loss_d)
        return {"d": loss_d.item(), "g": loss_g.item()}

    def extra_state(self) -> dict[str, Any]:
        return {"pool_a": list(self.pool_a.images), "pool_b": list(self.pool_b.images),
                "pool_gen": self.pool_gen.get_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pool_a.images, self.pool_b.images = list(state["pool_a"]), list(state["pool_b"])
        self.pool_gen.set_state(state["pool_gen"])

    def translate(self, x, exemplar, src, generator=None):
        return (self.g_ab if src == "a" else self.g_ba)(x)


# --------------------------------------------------------------------------- UNIT
def vae_kl(mu: torch.Tensor, sd: torch.Tensor) -> torch.Tensor:
    """``_compute_kl`` of UNIT version_02: Σ(mu² + sd² − log sd²) over every element, divided
    by the number of rows (both domains' images)."""
    return (mu ** 2 + sd ** 2 - torch.log(sd ** 2)).sum() / mu.shape[0]


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _unit_init(module: nn.Module) -> None:
    """Generator convs N(0, 0.02) (``gaussian_weights_init``; biases keep PyTorch's default);
    discriminator convs Xavier-uniform with gain √2 and bias 0.1 (``xavier_weights_init``)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            if isinstance(module, CoDis32):
                nn.init.xavier_uniform_(m.weight, gain=2 ** 0.5)
                nn.init.constant_(m.bias, 0.1)
            else:
                nn.init.normal_(m.weight, 0.0, 0.02)


class UNITModel(TranslatorModel):
    """UNIT (NIPS 2017, ``version_02``) as ``svhn2mnist.yaml`` trains it
    (``COCOGANDAContextTrainer``), without the digit classifier of domain adaptation.

    Per iteration a D step then a G step on the same batch. D: real images against
    translations and reconstructions (½ each), plus feature matching (weight ``feature``)
    between the D features of a translation and of the reconstruction of the same input.
    G: translations and reconstructions as real, KL 1e-4 (``vae_kl`` ×2), reconstruction
    1e-3 (squared error summed per image). lr 2e-4, weight decay 5e-4, no schedule.
    """

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        n = self.prof["net"]
        self.gen, self.dis = CoVAE32(n["ch"]), CoDis32(n["dis_ch"])
        _unit_init(self.gen)
        _unit_init(self.dis)
        wd = self.prof["weight_decay"]
        self.opt_g = _adam(self.gen.parameters(), self.prof["lr"], wd)
        self.opt_d = _adam(self.dis.parameters(), self.prof["lr"], wd)

    def set_lr(self, stage: str, it: int) -> None:
        _set_lr([self.opt_g, self.opt_d], self.prof["lr"])

    def _logits(self, xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.dis(xa, "a"), self.dis(xb, "b")])

    def train_step(self, stage: str, draw: Batch) -> dict[str, float]:
        xa, xb = draw()
        w = self.prof["loss"]
        with torch.no_grad():
            out = self.gen(xa, xb)
        true = _bce(self._logits(xa, xb), 1)
        fake = 0.5 * (_bce(self._logits(out["x_ba"], out["x_ab"]), 0)
                      + _bce(self._logits(out["x_aa"], out["x_bb"]), 0))
        f = self.dis.features
        feat = (self._sq_sum(f(out["x_ab"], "b") - f(out["x_aa"], "a"))
                + self._sq_sum(f(out["x_ba"], "a") - f(out["x_bb"], "b")))
        loss_d = w["gan"] * (true + fake) + w["feature"] * feat
        _step(self.opt_d, loss_d)
        with _Frozen(self.dis):
            out = self.gen(xa, xb)
            parts = {"gan": _bce(self._logits(out["x_ba"], out["x_ab"]), 1)
                     + _bce(self._logits(out["x_aa"], out["x_bb"]), 1),
                     "kl": 2 * vae_kl(out["mu"], out["sd"]),
                     "recon": self._sq_sum(out["x_aa"] - xa) + self._sq_sum(out["x_bb"] - xb)}
            loss_g = sum(w[k] * v for k, v in parts.items())
        _step(self.opt_g, loss_g)
        return {"d": loss_d.item(), "g": loss_g.item(), **{k: v.item() for k, v in parts.items()}}

    @staticmethod
    def _sq_sum(diff: torch.Tensor) -> torch.Tensor:
        """``_compute_ll_loss``: mean squared error × C·H·W (squared error summed per image)."""
        return (diff ** 2).flatten(1).sum(1).mean()

    def translate(self, x, exemplar, src, generator=None):
        return self.gen.translate(x, exemplar, src, generator)


# --------------------------------------------------------------------------- MUNIT
class MUNITModel(TranslatorModel):
    """MUNIT: D step then ``g_update`` G steps (EGSC-IT's 5G:1D run), random style codes for
    cross-domain decoding, lr × 0.5 every ``step_size`` iterations (MUNIT's release)."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        n = self.prof["net"]
        gen_kw = {k: n[k] for k in ("dim", "style_dim", "mlp_dim", "n_down", "n_style_down",
                                    "n_res")}
        self.gen_a, self.gen_b = AdaINGen(**gen_kw), AdaINGen(**gen_kw)
        self.dis_a = MsImageDis(n["dis_dim"], n["dis_layers"], n["dis_scales"])
        self.dis_b = MsImageDis(n["dis_dim"], n["dis_layers"], n["dis_scales"])
        init_weights(self.gen_a, "kaiming")
        init_weights(self.gen_b, "kaiming")
        init_weights(self.dis_a, "normal", 0.02)
        init_weights(self.dis_b, "normal", 0.02)
        wd = self.prof["weight_decay"]
        self.opt_g = _adam([*self.gen_a.parameters(), *self.gen_b.parameters()],
                           self.prof["lr"], wd)
        self.opt_d = _adam([*self.dis_a.parameters(), *self.dis_b.parameters()],
                           self.prof["lr"], wd)
        self.vgg = None
        if self.prof["loss"]["vgg"]:
            self.vgg, self.weights_used["vgg16"] = load_munit_vgg(
                config["allow_random_weights"], config["seed"])

    def set_lr(self, stage: str, it: int) -> None:
        _set_lr([self.opt_g, self.opt_d],
                self.prof["lr"] * 0.5 ** (it // self.prof["step_size"]))

    def _styles(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (x.shape[0], self.gen_a.style_dim, 1, 1)
        return torch.randn(shape, device=x.device), torch.randn(shape, device=x.device)

    def train_step(self, stage: str, draw: Batch) -> dict[str, float]:
        xa, xb = draw()
        size, w = xa.shape[-1], self.prof["loss"]
        s_a, s_b = self._styles(xa)
        with torch.no_grad():
            x_ba = self.gen_a.decode(self.gen_b.encode(xb)[0], s_a, size)
            x_ab = self.gen_b.decode(self.gen_a.encode(xa)[0], s_b, size)
        loss_d = w["gan"] * sum(
            lsgan_d(r, f) for dis, real, fake in ((self.dis_a, xa, x_ba), (self.dis_b, xb, x_ab))
            for r, f in zip(dis(real), dis(fake), strict=True))
        _step(self.opt_d, loss_d)
        for _ in range(self.prof["g_update"]):
            loss_g = self._gen_step(*draw())
        return {"d": loss_d.item(), "g": loss_g}

    def _gen_step(self, xa: torch.Tensor, xb: torch.Tensor) -> float:
        size, w = xa.shape[-1], self.prof["loss"]
        s_a, s_b = self._styles(xa)
        with _Frozen(self.dis_a, self.dis_b):
            c_a, s_a_own = self.gen_a.encode(xa)
            c_b, s_b_own = self.gen_b.encode(xb)
            x_a_rec, x_b_rec = self.gen_a.decode(c_a, s_a_own, size), \
                self.gen_b.decode(c_b, s_b_own, size)
            x_ba, x_ab = self.gen_a.decode(c_b, s_a, size), self.gen_b.decode(c_a, s_b, size)
            c_b_rec, s_a_rec = self.gen_a.encode(x_ba)
            c_a_rec, s_b_rec = self.gen_b.encode(x_ab)
            loss = (w["gan"] * sum(lsgan_g(o) for o in [*self.dis_a(x_ba), *self.dis_b(x_ab)])
                    + w["x"] * (F.l1_loss(x_a_rec, xa) + F.l1_loss(x_b_rec, xb))
                    + w["s"] * (F.l1_loss(s_a_rec, s_a) + F.l1_loss(s_b_rec, s_b))
                    + w["c"] * (F.l1_loss(c_a_rec, c_a) + F.l1_loss(c_b_rec, c_b)))
            if w["x_cyc"]:
                x_aba = self.gen_a.decode(c_a_rec, s_a_own, size)
                x_bab = self.gen_b.decode(c_b_rec, s_b_own, size)
                loss = loss + w["x_cyc"] * (F.l1_loss(x_aba, xa) + F.l1_loss(x_bab, xb))
            if self.vgg is not None:  # x_ba keeps x_b's content, x_ab keeps x_a's
                loss = loss + w["vgg"] * (self.vgg(x_ba, xb) + self.vgg(x_ab, xa))
        _step(self.opt_g, loss)
        return loss.item()

    def translate(self, x, exemplar, src, generator=None):
        g_src, g_dst = (self.gen_a, self.gen_b) if src == "a" else (self.gen_b, self.gen_a)
        return g_dst.decode(g_src.encode(x)[0], g_dst.encode(exemplar)[1], x.shape[-1])


MODEL_CLASSES: dict[str, type[TranslatorModel]] = {
    "egsc-it": EGSCITModel, "cyclegan": CycleGANModel, "unit": UNITModel, "munit": MUNITModel}
#: variants of a method: (method, variant) → class; the default variant is MODEL_CLASSES'
VARIANT_CLASSES: dict[tuple[str, str], type[TranslatorModel]] = {
    ("unit", "egsc-it"): EGSCUNITModel}


def build_model(config: dict[str, Any]) -> TranslatorModel:
    """Build a model from its recorded config (method, profile dict, ablation, seed, ...)."""
    torch.manual_seed(config["seed"])
    cls = VARIANT_CLASSES.get((config["method"], config.get("variant")),
                              MODEL_CLASSES[config["method"]])
    return cls(config)
