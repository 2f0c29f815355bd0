"""Training profiles: ``smoke`` (CI), ``cpu`` (≤ 15 min per model on
2 cores), ``long`` (the ``cpu`` networks for about an hour per model on one idle core) and
``paper`` (the released hyper-parameters and iteration counts).

``paper`` values: EGSC-IT from ``run_train_feaMask.sh`` / ``run_train_EGSCIT.sh`` (MNIST
block); CycleGAN from ``options/*.py`` (with the small-image generator;
100 + 100 epochs at batch 1 over the 4000 offline train pairs = 800k iterations);
UNIT from ``exps/unit/svhn2mnist.yaml`` on ``version_02``; MUNIT from
``configs/edges2shoes_folder.yaml`` with EGSC-IT's 5G:1D, 300k-iteration, VGG run
and a small-image discriminator, with MUNIT's VGG loss at weight 1 as in that
run (``smoke``, ``cpu`` and ``long`` keep edges2shoes' vgg 0). ``smoke`` and ``cpu`` shrink
widths and iteration counts, ``long`` only lengthens ``cpu``; their results are never reported
as paper results.
"""

from __future__ import annotations

from typing import Any

from stylestudy.errors import UserError

__all__ = ["PROFILES", "METHODS", "VARIANTS", "check_variant", "profile"]

METHODS = ("egsc-it", "cyclegan", "unit", "munit")
PROFILES = ("smoke", "cpu", "long", "paper")
#: network variants of a method, the default first: UNIT as published (NIPS 2017,
#: ``CoVAE32x32``) or as EGSC-IT's paper trained it (its stage-2 network without feature mask,
#: AdaIN and perceptual losses, with the EGSC-IT profile's settings)
VARIANTS: dict[str, tuple[str, ...]] = {"unit": ("nips2017", "egsc-it")}

_EGSC_LOSS = {"gan": 10.0, "kl": 0.1, "l1": 100.0, "kl_cycle": 0.1, "l1_cycle": 100.0,
              "style": 1e3, "content": 1e1}

#: svhn2mnist.yaml: gan_w, kl_normalized_direct_w, ll_normalized_direct_w, feature_w
_UNIT_LOSS = {"gan": 1.0, "kl": 1e-4, "recon": 1e-3, "feature": 1e-4}

_TABLE: dict[str, dict[str, dict[str, Any]]] = {
    "egsc-it": {
        "smoke": dict(net=dict(ngf=8, n_down=2, ndf=16, n_dis=3), batch=16, lr=1e-4,
                      iters=[3, 2], g_update=[1, 5], vgg_taps=(), loss=_EGSC_LOSS,
                      ckpt_every=1),
        "cpu": dict(net=dict(ngf=16, n_down=0, ndf=32, n_dis=4), batch=8, lr=1e-4,
                    iters=[800, 400], g_update=[1, 5], vgg_taps=("relu1_1", "relu2_1"),
                    loss=_EGSC_LOSS, ckpt_every=20),
        "paper": dict(net=dict(ngf=64, n_down=0, ndf=64, n_dis=4), batch=8, lr=1e-5,
                      iters=[60000, 60000], g_update=[1, 5],
                      vgg_taps=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                      loss=_EGSC_LOSS, ckpt_every=500),
    },
    "cyclegan": {
        "smoke": dict(net=dict(ngf=8, n_blocks=2, ndf=16), batch=16, lr=2e-4, iters=[4],
                      decay_from=2, pool=50, loss=dict(cycle=10.0, idt=0.5), ckpt_every=1),
        "cpu": dict(net=dict(ngf=16, n_blocks=3, ndf=32), batch=16, lr=2e-4, iters=[1500],
                    decay_from=750, pool=50, loss=dict(cycle=10.0, idt=0.5), ckpt_every=50),
        "paper": dict(net=dict(ngf=32, n_blocks=6, ndf=64), batch=1, lr=2e-4,
                      iters=[800000], decay_from=400000, pool=50,
                      loss=dict(cycle=10.0, idt=0.5), ckpt_every=5000),
    },
    "unit": {
        "smoke": dict(net=dict(ch=8, dis_ch=8), batch=16, lr=2e-4, weight_decay=5e-4,
                      iters=[4], loss=_UNIT_LOSS, ckpt_every=1),
        "cpu": dict(net=dict(ch=32, dis_ch=32), batch=32, lr=2e-4, weight_decay=5e-4,
                    iters=[400], loss=_UNIT_LOSS, ckpt_every=20),
        "paper": dict(net=dict(ch=96, dis_ch=64), batch=64, lr=2e-4, weight_decay=5e-4,
                      iters=[200000], loss=_UNIT_LOSS, ckpt_every=5000),
    },
    "munit": {
        "smoke": dict(net=dict(dim=8, style_dim=8, mlp_dim=16, n_down=2, n_style_down=3,
                               n_res=1, dis_dim=8, dis_layers=3, dis_scales=2),
                      batch=16, lr=1e-4, weight_decay=1e-4, iters=[3], g_update=1,
                      step_size=100000, vgg_taps=(),
                      loss=dict(gan=1.0, x=10.0, s=1.0, c=1.0, x_cyc=0.0, vgg=0.0),
                      ckpt_every=1),
        "cpu": dict(net=dict(dim=16, style_dim=8, mlp_dim=64, n_down=2, n_style_down=3,
                             n_res=2, dis_dim=32, dis_layers=3, dis_scales=2),
                    batch=16, lr=1e-4, weight_decay=1e-4, iters=[400], g_update=5,
                    step_size=100000, vgg_taps=(),
                    loss=dict(gan=1.0, x=10.0, s=1.0, c=1.0, x_cyc=0.0, vgg=0.0),
                    ckpt_every=20),
        "paper": dict(net=dict(dim=64, style_dim=8, mlp_dim=256, n_down=2, n_style_down=3,
                               n_res=4, dis_dim=64, dis_layers=3, dis_scales=2),
                      batch=1, lr=1e-4, weight_decay=1e-4, iters=[300000], g_update=5,
                      step_size=100000, vgg_taps=(),
                      loss=dict(gan=1.0, x=10.0, s=1.0, c=1.0, x_cyc=0.0, vgg=1.0),
                      ckpt_every=5000),
    },
}

#: ``long``: the ``cpu`` settings with more iterations, sized by one thread's speed on an idle
#: 2-core machine (EGSC-IT stage 1 ≈ 0.1 s, stage 2 ≈ 1.05 s, CycleGAN ≈ 0.22 s, MUNIT ≈ 1.4 s
#: per iteration): about an hour per model
_LONGER: dict[str, dict[str, Any]] = {
    "egsc-it": dict(iters=[4000, 3000], ckpt_every=100),
    "cyclegan": dict(iters=[16000], decay_from=8000, ckpt_every=500),
    "unit": dict(iters=[2400], ckpt_every=100),
    "munit": dict(iters=[2600], ckpt_every=100),
}
for _method, _longer in _LONGER.items():
    _TABLE[_method]["long"] = _TABLE[_method]["cpu"] | _longer


def check_variant(method: str, variant: str | None) -> str | None:
    """``variant`` checked against ``method`` (None: the method's default, if it has any)."""
    known = VARIANTS.get(method, ())
    if variant is None:
        return known[0] if known else None
    if variant not in known:
        raise UserError(f"{method} has no variant {variant!r}"
                        + (f" (known: {', '.join(known)})" if known else ""))
    return variant


def profile(method: str, name: str, variant: str | None = None) -> dict[str, Any]:
    """A copy of the settings of ``method`` (``variant``) under profile ``name``."""
    if method not in _TABLE:
        raise UserError(f"unknown translator {method!r} (known: {', '.join(METHODS)})")
    if name not in PROFILES:
        raise UserError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    import copy

    table = "egsc-it" if (method, variant) == ("unit", "egsc-it") else method
    return copy.deepcopy(_TABLE[table][name]) | {"name": name}
