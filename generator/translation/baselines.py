"""Baseline translators at 28/32 px: CycleGAN, UNIT (NIPS-2017 ``CoVAE32x32``) and MUNIT.

Topologies from the released code (``junyanz/pytorch-CycleGAN-and-pix2pix``
``models/networks.py``; ``mingyuliutw/UNIT`` branch ``version_02``
``src/trainers/cocogan_nets_da.py``; ``NVlabs/MUNIT`` ``networks.py``), reimplemented, with
the settings that 28/32-px inputs need (the default discriminators do not fit at 32 px).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylestudy.generator.translation.blocks import Conv, ResBlock

__all__ = ["ResnetGenerator", "NLayerDiscriminator", "CoVAE32", "CoDis32", "AdaINGen",
           "MsImageDis", "xy_channels"]


# --------------------------------------------------------------------------- CycleGAN
class ResnetGenerator(nn.Module):
    """``ResnetGenerator``: conv7 + IN + ReLU, 2 × down, ``n_blocks`` IN resblocks,
    2 × transposed conv up, conv7 + tanh."""

    def __init__(self, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        layers: list[nn.Module] = [Conv(3, ngf, 7, 1, "reflect", "in", "relu")]
        ch = ngf
        for _ in range(2):
            layers.append(Conv(ch, ch * 2, 3, 2, "zero", "in", "relu"))
            ch *= 2
        layers += [ResBlock(ch, "reflect", "in") for _ in range(n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        layers.append(Conv(ch, 3, 7, 1, "reflect", None, "tanh"))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class NLayerDiscriminator(nn.Module):
    """70×70 PatchGAN (``n_layers`` 3): conv4 s2 stack, conv4 s1, conv4 s1 → 1."""

    def __init__(self, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1),
                       nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------- UNIT (v02)
class Bias2d(nn.Module):
    """A learned per-channel bias (``common_net.Bias2d``: init N(0, 0.002))."""

    def __init__(self, ch: int):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(ch) * 0.002)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.view(1, -1, 1, 1)


def _lbn(cin: int, cout: int, k: int, s: int, p: int, transpose: bool = False) -> nn.Sequential:
    """``LeakyReLUBNNSConv2d`` / ``...ConvTranspose2d``: conv, batch norm without affine, a
    learned bias, LeakyReLU with PyTorch's default slope 0.01."""
    conv = (nn.ConvTranspose2d if transpose else nn.Conv2d)(cin, cout, k, s, p)
    return nn.Sequential(conv, nn.BatchNorm2d(cout, affine=False), Bias2d(cout),
                         nn.LeakyReLU(0.01))


def xy_channels(n: int, size: int = 32) -> torch.Tensor:
    """The context trainer's coordinate channels (``_create_xy_image``): row and column
    index, (i − size/2)/(size/2), shape (n, 2, size, size)."""
    r = (torch.arange(size, dtype=torch.float32) - size / 2) / (size / 2)
    grid = torch.stack(torch.meshgrid(r, r, indexing="ij"))
    return grid.expand(n, 2, size, size)


class CoVAE32(nn.Module):
    """``CoVAE32x32``: per-domain first/last layers, shared middle and Gaussian VAE latent.

    Inputs get the two coordinate channels of ``COCOGANDAContextTrainer`` (svhn2mnist.yaml's
    trainer). Works at 32×32; 28×28 inputs are edge-padded to 32 and the output cropped back.
    The shared layers see both domains' batches as one batch (``forward``), so their batch
    norm mixes the domains as in the release.
    """

    def __init__(self, ch: int = 96):
        super().__init__()
        self.enc_a, self.enc_b = _lbn(5, ch, 5, 2, 2), _lbn(5, ch, 5, 2, 2)
        self.enc_shared = nn.Sequential(_lbn(ch, 2 * ch, 5, 2, 2), _lbn(2 * ch, 4 * ch, 8, 1, 0),
                                        _lbn(4 * ch, 8 * ch, 1, 1, 0))
        self.mu = nn.Conv2d(8 * ch, 8 * ch, 1)
        self.sd = nn.Conv2d(8 * ch, 8 * ch, 1)
        self.dec_shared = nn.Sequential(_lbn(8 * ch, 8 * ch, 4, 2, 0, True),
                                        _lbn(8 * ch, 4 * ch, 4, 2, 1, True),
                                        _lbn(4 * ch, 2 * ch, 4, 2, 1, True))
        self.dec_a = nn.Sequential(_lbn(2 * ch, ch, 4, 2, 1, True),
                                   nn.ConvTranspose2d(ch, 3, 1), nn.Tanh())
        self.dec_b = nn.Sequential(_lbn(2 * ch, ch, 4, 2, 1, True),
                                   nn.ConvTranspose2d(ch, 3, 1), nn.Tanh())

    def _first(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        x = _to32(x)
        return (self.enc_a if domain == "a" else self.enc_b)(
            torch.cat([x, xy_channels(len(x)).to(x)], 1))

    def _latent(self, h: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``GaussianVAE2D.sample``: z = mu + softplus(·)·ε, drawn in training and testing."""
        h = self.enc_shared(h)
        mu, sd = self.mu(h), F.softplus(self.sd(h))
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + sd * eps, mu, sd

    def forward(self, xa: torch.Tensor, xb: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both domains through one shared pass: x_aa, x_ba, x_ab, x_bb, mu, sd."""
        n, size = len(xa), xa.shape[-1]
        z, mu, sd = self._latent(torch.cat([self._first(xa, "a"), self._first(xb, "b")]))
        h = self.dec_shared(z)
        out_a, out_b = _crop(self.dec_a(h), size), _crop(self.dec_b(h), size)
        return {"x_aa": out_a[:n], "x_ba": out_a[n:], "x_ab": out_b[:n], "x_bb": out_b[n:],
                "mu": mu, "sd": sd}

    def encode(self, x: torch.Tensor, domain: str, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._latent(self._first(x, domain), generator)

    def decode(self, z: torch.Tensor, domain: str, size: int) -> torch.Tensor:
        out = (self.dec_a if domain == "a" else self.dec_b)(self.dec_shared(z))
        return _crop(out, size)

    def translate(self, x: torch.Tensor, exemplar: torch.Tensor, src: str,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        z, _, _ = self.encode(x, src, generator)
        return self.decode(z, "b" if src == "a" else "a", x.shape[-1])


def _to32(x: torch.Tensor) -> torch.Tensor:
    p = (32 - x.shape[-1]) // 2
    return F.pad(x, (p, p, p, p), mode="replicate") if p > 0 else x


def _crop(x: torch.Tensor, size: int) -> torch.Tensor:
    p = (x.shape[-1] - size) // 2
    return x[..., p:p + size, p:p + size] if p > 0 else x


class CoDis32(nn.Module):
    """``CoDis32x32``: per-domain conv5 + ReLU + max-pool, 3 shared such layers, conv2×2
    head; dropout 0.1 / 0.3 / 0.5 / 0.5 on the adversarial path only.

    One logit per image where the release has two softmax logits (the same family of
    classifiers: sigmoid of their difference).
    """

    def __init__(self, ch: int = 64):
        super().__init__()

        def layer(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))

        self.first_a, self.first_b = layer(3, ch), layer(3, ch)
        self.shared = nn.ModuleList([layer(ch, 2 * ch), layer(2 * ch, 4 * ch),
                                     layer(4 * ch, 8 * ch)])
        self.drop = nn.ModuleList(nn.Dropout(p) for p in (0.1, 0.3, 0.5, 0.5))
        self.head = nn.Conv2d(8 * ch, 1, 2, 1, 0)

    def forward(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Logits (dropout path), shape (N, 1, 1, 1)."""
        h = self.drop[0]((self.first_a if domain == "a" else self.first_b)(_to32(x)))
        for conv, drop in zip(self.shared, self.drop[1:], strict=True):
            h = drop(conv(h))
        return self.head(h)

    def features(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """The last shared layer's output without dropout (``_forward_core``)."""
        h = (self.first_a if domain == "a" else self.first_b)(_to32(x))
        for conv in self.shared:
            h = conv(h)
        return h


# --------------------------------------------------------------------------- MUNIT
class LayerNorm(nn.Module):
    """MUNIT's LayerNorm: per-sample over (C, H, W), per-channel affine."""

    def __init__(self, ch: int, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(ch))
        self.beta = nn.Parameter(torch.zeros(ch))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1).view(-1, 1, 1, 1)
        x = (x - mean) / (std + self.eps)
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


class AdaINResBlock(nn.Module):
    """Residual block whose two norms are AdaIN layers fed by the style MLP."""

    def __init__(self, ch: int):
        super().__init__()
        self.c1, self.c2 = Conv(ch, ch, 3, 1, "reflect", None, None), \
            Conv(ch, ch, 3, 1, "reflect", None, None)
        self.ch = ch

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        c = self.ch
        m1, s1, m2, s2 = (params[:, i * c:(i + 1) * c, None, None] for i in range(4))
        h = F.relu(F.instance_norm(self.c1(x)) * s1 + m1)
        h = F.instance_norm(self.c2(h)) * s2 + m2
        return x + h


class AdaINGen(nn.Module):
    """MUNIT's ``AdaINGen``: content encoder, style encoder, MLP → AdaIN decoder."""

    def __init__(self, dim: int = 64, style_dim: int = 8, mlp_dim: int = 256,
                 n_down: int = 2, n_style_down: int = 3, n_res: int = 4):
        super().__init__()
        layers: list[nn.Module] = [Conv(3, dim, 7, 1, "reflect", None, "relu")]
        d = dim
        for i in range(n_style_down):
            nd = d * 2 if i < 2 else d
            layers.append(Conv(d, nd, 4, 2, "reflect", None, "relu", padding=1))
            d = nd
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(d, style_dim, 1)]
        self.style_enc = nn.Sequential(*layers)
        layers = [Conv(3, dim, 7, 1, "reflect", "in", "relu")]
        d = dim
        for _ in range(n_down):
            layers.append(Conv(d, d * 2, 4, 2, "reflect", "in", "relu", padding=1))
            d *= 2
        layers += [ResBlock(d, "reflect", "in") for _ in range(n_res)]
        self.content_enc = nn.Sequential(*layers)
        self.res = nn.ModuleList(AdaINResBlock(d) for _ in range(n_res))
        ups: list[nn.Module] = []
        for _ in range(n_down):
            ups += [nn.Upsample(scale_factor=2), nn.ReflectionPad2d(2), nn.Conv2d(d, d // 2, 5),
                    LayerNorm(d // 2), nn.ReLU()]
            d //= 2
        ups.append(Conv(d, 3, 7, 1, "reflect", None, "tanh"))
        self.up = nn.Sequential(*ups)
        n_params = 4 * self.res[0].ch * n_res
        self.mlp = nn.Sequential(nn.Linear(style_dim, mlp_dim), nn.ReLU(),
                                 nn.Linear(mlp_dim, mlp_dim), nn.ReLU(),
                                 nn.Linear(mlp_dim, n_params))
        self.style_dim = style_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.content_enc(x), self.style_enc(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor, size: int) -> torch.Tensor:
        """AdaIN parameters: per block (mean₁, std₁, mean₂, std₂), MUNIT's bias/weight order."""
        params = self.mlp(style.flatten(1))
        h = content
        for i, block in enumerate(self.res):
            c4 = 4 * block.ch
            h = block(h, params[:, i * c4:(i + 1) * c4])
        out = self.up(h)
        if out.shape[-1] != size:  # 28 px: 28 → 7 → 28 is exact; odd sizes are resized
            out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)
        return out


class MsImageDis(nn.Module):
    """MUNIT's multi-scale LSGAN discriminator: ``n_scales`` × (``n_layer`` conv4 s2 +
    LReLU, 1×1 head), 3×3 average pooling between scales."""

    def __init__(self, dim: int = 64, n_layer: int = 3, n_scales: int = 2):
        super().__init__()

        def one() -> nn.Sequential:
            layers: list[nn.Module] = []
            d, cin = dim, 3
            for _ in range(n_layer):
                layers.append(Conv(cin, d, 4, 2, "reflect", None, "lrelu", padding=1))
                cin, d = d, d * 2
            layers.append(nn.Conv2d(cin, 1, 1))
            return nn.Sequential(*layers)

        self.nets = nn.ModuleList(one() for _ in range(n_scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for net in self.nets:
            outs.append(net(x))
            x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        return outs
