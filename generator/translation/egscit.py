"""EGSC-IT networks (Ma et al., ICLR 2019) in PyTorch, after the release.

Stage 1 (:class:`VAEGANRecon`, one per domain) pretrains the encoder whose last residual
features give the feature mask and the AdaIN statistics; stage 2 (:class:`EGSCIT`) freezes
those encoders (``feat_a``, ``feat_b``) and trains the shared-latent translator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from stylestudy.generator.translation.blocks import (
    Conv,
    ResBlock,
    adain,
    channel_stats,
    feature_mask,
    init_weights,
    lrelu,
    tf_same_pad,
)

__all__ = ["EGSCConfig", "Encoder", "Decoder", "PatchDiscriminator", "VAEGANRecon", "EGSCIT",
           "ABLATIONS"]

#: ablations of the paper's MNIST SSIM table
ABLATIONS = ("none", "no-mask", "no-adain", "no-perceptual")


@dataclass(frozen=True)
class EGSCConfig:
    """Network sizes; the defaults are the released MNIST settings (n_1 = 1 → n_down 0)."""

    ngf: int = 64
    n_down: int = 0
    n_res: int = 3
    ndf: int = 64
    n_dis: int = 4
    pad: str = "reflect"
    use_mask: bool = True
    use_adain: bool = True
    adain_variant: str = "textbook"
    #: generator residual-block norm: None as launched (``--norm=None``), or "in"
    norm: str | None = None

    @property
    def latent_ch(self) -> int:
        return self.ngf * 2 ** self.n_down


class Encoder(nn.Module):
    """conv7×7 s1 + LReLU; ``n_down`` × conv3×3 s2 (channels ×2) + LReLU; ``n_res`` resblocks."""

    def __init__(self, cfg: EGSCConfig):
        super().__init__()
        layers = [Conv(3, cfg.ngf, 7, 1, cfg.pad)]
        ch = cfg.ngf
        for _ in range(cfg.n_down):
            layers.append(Conv(ch, ch * 2, 3, 2, cfg.pad))
            ch *= 2
        self.head = nn.Sequential(*layers)
        self.res = nn.ModuleList(ResBlock(ch, cfg.pad, cfg.norm) for _ in range(cfg.n_res))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        for block in self.res:
            h = block(h)
        return h


class Decoder(nn.Module):
    """[mask · AdaIN] → resblocks → ``n_down`` × deconv3×3 s2 + LReLU → deconv1×1 → tanh."""

    def __init__(self, cfg: EGSCConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.latent_ch
        self.res = nn.ModuleList(ResBlock(ch, cfg.pad, cfg.norm) for _ in range(cfg.n_res))
        ups: list[nn.Module] = []
        for _ in range(cfg.n_down):
            ups += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, padding=1, output_padding=1),
                    nn.LeakyReLU(0.2)]
            ch //= 2
        ups += [nn.ConvTranspose2d(ch, 3, 1, 1), nn.Tanh()]
        self.up = nn.Sequential(*ups)

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None,
                stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        h = z
        if mask is not None:
            h = h * mask
        if stats is not None:
            h = adain(h, stats[0], stats[1], self.cfg.adain_variant)
        for block in self.res:
            h = block(h)
        return self.up(h)


class PatchDiscriminator(nn.Module):
    """Single-scale D of ``UNIT.discriminator``: SAME-padded conv4×4 s2 stack, 1×1 head.

    conv_0 applies LeakyReLU twice (negatives × 0.04) and the logit is LeakyReLU'd, as
    in the release.
    """

    def __init__(self, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        chans = [ndf * 2 ** i for i in range(n_layers)]
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 4, 2)
                                   for cin, cout in zip([3, *chans[:-1]], chans, strict=True))
        self.norms = nn.ModuleList(nn.InstanceNorm2d(c) for c in chans[1:])
        self.head = nn.Conv2d(chans[-1], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = lrelu(lrelu(self.convs[0](tf_same_pad(x, 4, 2))))
        for conv, norm in zip(self.convs[1:], self.norms, strict=True):
            h = lrelu(norm(lrelu(conv(tf_same_pad(h, 4, 2)))))
        return lrelu(self.head(h))


def gaussian_noise(mu: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + N(0, 1) (``gaussian_noise_layer``, σ fixed at 1; also at test time)."""
    noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + noise


class VAEGANRecon(nn.Module):
    """Stage-1 autoencoder of one domain: part1 encoder, part2 resblock + noise, part3
    resblock, part4 decoder; with its own discriminator (``UNIT_VAEGAN_recon``)."""

    def __init__(self, cfg: EGSCConfig):
        super().__init__()
        self.part1 = Encoder(cfg)
        self.part2 = ResBlock(cfg.latent_ch, cfg.pad, cfg.norm)
        self.part3 = ResBlock(cfg.latent_ch, cfg.pad, cfg.norm)
        self.part4 = Decoder(cfg)
        self.dis = PatchDiscriminator(cfg.ndf, cfg.n_dis)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = gaussian_noise(self.part2(self.part1(x)))
        return self.part4(self.part3(shared)), shared


class EGSCIT(nn.Module):
    """Stage-2 translator: per-domain encoders and decoders around a shared latent."""

    def __init__(self, cfg: EGSCConfig):
        super().__init__()
        self.cfg = cfg
        self.enc_a, self.enc_b = Encoder(cfg), Encoder(cfg)
        self.share_enc = ResBlock(cfg.latent_ch, cfg.pad, cfg.norm)
        self.share_gen = ResBlock(cfg.latent_ch, cfg.pad, cfg.norm)
        self.dec_a, self.dec_b = Decoder(cfg), Decoder(cfg)
        self.dis_a = PatchDiscriminator(cfg.ndf, cfg.n_dis)
        self.dis_b = PatchDiscriminator(cfg.ndf, cfg.n_dis)
        #: frozen stage-1 encoders (``VAEGAN_recon_X/part1``): mask and AdaIN source; absent
        #: when neither is used (EGSC-IT's UNIT baseline)
        self.guided = cfg.use_mask or cfg.use_adain
        if self.guided:
            self.feat_a, self.feat_b = Encoder(cfg), Encoder(cfg)
        init_weights(self)
        if self.guided:
            for p in [*self.feat_a.parameters(), *self.feat_b.parameters()]:
                p.requires_grad_(False)

    def generator_parameters(self) -> list[nn.Parameter]:
        mods = [self.enc_a, self.enc_b, self.share_enc, self.share_gen, self.dec_a, self.dec_b]
        return [p for m in mods for p in m.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.dis_a.parameters(), *self.dis_b.parameters()]

    def load_stage1(self, stage1_a: VAEGANRecon, stage1_b: VAEGANRecon) -> None:
        self.feat_a.load_state_dict(stage1_a.part1.state_dict())
        self.feat_b.load_state_dict(stage1_b.part1.state_dict())

    def guidance(self, x: torch.Tensor, domain: str) -> tuple[torch.Tensor | None, tuple | None]:
        """Frozen features of ``x`` in its own domain → (mask source, AdaIN statistics)."""
        if not self.guided:
            return None, None
        with torch.no_grad():
            f = (self.feat_a if domain == "a" else self.feat_b).eval()(x)
        return f, channel_stats(f)

    def encode(self, x: torch.Tensor, domain: str,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder of ``domain`` → shared encoder (+ noise) → shared generator."""
        h = (self.enc_a if domain == "a" else self.enc_b)(x)
        shared = gaussian_noise(self.share_enc(h), generator)
        return self.share_gen(shared), shared

    def decode(self, z: torch.Tensor, domain: str, feat_src: torch.Tensor | None,
               stats: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        mask = feature_mask(feat_src, z.shape[-2:]) if self.cfg.use_mask else None
        dec = self.dec_a if domain == "a" else self.dec_b
        return dec(z, mask, stats if self.cfg.use_adain else None)

    def translate(self, x: torch.Tensor, exemplar: torch.Tensor, src: str,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Translate ``x`` of domain ``src`` into the other domain in ``exemplar``'s style."""
        dst = "b" if src == "a" else "a"
        f_src, _ = self.guidance(x, src)
        _, stats = self.guidance(exemplar, dst)
        z, _ = self.encode(x, src, generator)
        return self.decode(z, dst, f_src, stats)

    def forward_train(self, xa: torch.Tensor, xb: torch.Tensor) -> dict[str, torch.Tensor]:
        """The stage-2 graph of ``_build_model`` (released trainer): all outputs the losses need."""
        fa, sa = self.guidance(xa, "a")
        fb, sb = self.guidance(xb, "b")
        n = xa.shape[0]
        za, shared_a = self.encode(xa, "a")
        zb, shared_b = self.encode(xb, "b")
        z = torch.cat([za, zb])
        f = torch.cat([fa, fb]) if self.guided else None
        stats_a = (torch.cat([sa[0], sa[0]]), torch.cat([sa[1], sa[1]])) if self.guided else None
        stats_b = (torch.cat([sb[0], sb[0]]), torch.cat([sb[1], sb[1]])) if self.guided else None
        out_a = self.decode(z, "a", f, stats_a)
        out_b = self.decode(z, "b", f, stats_b)
        x_aa, x_ba = out_a[:n], out_a[n:]
        x_ab, x_bb = out_b[:n], out_b[n:]
        z_ba, shared_ba = self.encode(x_ba, "a")
        z_ab, shared_ab = self.encode(x_ab, "b")
        x_bab = self.decode(z_ba, "b", fb, sb)
        x_aba = self.decode(z_ab, "a", fa, sa)
        return {"x_aa": x_aa, "x_ab": x_ab, "x_ba": x_ba, "x_bb": x_bb, "x_aba": x_aba,
                "x_bab": x_bab, "shared": torch.cat([shared_a, shared_b]),
                "shared_aba": shared_ab, "shared_bab": shared_ba}
