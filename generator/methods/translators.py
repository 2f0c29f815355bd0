"""Trained two-domain translators (EGSC-IT, CycleGAN, UNIT, MUNIT) and the digit reference
generators (identity, copy-exemplar, colour oracle).

A translator reads ``ctx.checkpoint`` (a finished ``stylestudy train`` run); EGSC-IT's
ablation, AdaIN variant and profile come from the checkpoint and are reported in the
provenance. The content is the source image, the style image is the exemplar; ``direction``
says which domain the content is in (``a2b``: A = black/white → B = colour).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from stylestudy.errors import UserError
from stylestudy.generator.imageops import resize, to_float
from stylestudy.generator.method import Method, Param, Request, register, to_uint8
from stylestudy.generator.translation import reference

__all__ = ["EGSCITMethod", "CycleGANMethod", "UNITMethod", "MUNITMethod", "Identity",
           "CopyExemplar", "ColourOracle"]

_DIRECTION = Param(str, "a2b", "a2b: content in domain A (black/white) → B; b2a: reverse",
                   choices=("a2b", "b2a"))


class _Translator(Method):
    kind = "translator"
    version = "1"
    needs_checkpoint = True
    max_batch = 256
    params: ClassVar[dict[str, Param]] = {"direction": _DIRECTION}

    def setup(self) -> None:
        import torch

        from stylestudy.generator.translation.train import load_translator

        if not self.ctx.checkpoint:
            raise UserError(f"method {self.name!r} needs a trained checkpoint "
                            "(manifest: checkpoint: PATH; train with `stylestudy train`)")
        device = self.ctx.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            device = "cpu"
        self.device = device
        self.model, self.record = load_translator(self.ctx.checkpoint, device)
        if self.record["method"] != self.name:
            raise UserError(f"{self.ctx.checkpoint} is a {self.record['method']} checkpoint, "
                            f"not {self.name}")
        self.ctx.weights_used["checkpoint"] = {
            "sha256": self.record["sha256"], "source": "stylestudy train",
            "calibrated": self.record["calibrated"],
            **{k: self.record[k] for k in ("method", "variant", "profile", "ablation",
                                           "adain_variant", "norm", "seed", "size", "data",
                                           "data_sha256")}}
        self.ctx.weights_used.update(self.record["weights_used"])

    def provenance(self, index: int = 0) -> dict[str, Any]:
        return {"translator": {k: self.record[k] for k in ("variant", "profile", "ablation",
                                                           "adain_variant", "norm", "size")}}

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        s = self.record["size"]
        return to_uint8(resize(to_float(image), (s, s)))

    def run_batch(self, requests: list[Request]) -> list[np.ndarray]:
        out: list[np.ndarray] = [np.empty(0)] * len(requests)
        groups: dict[tuple[str, int], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.params["direction"], r.seed), []).append(i)
        for (direction, seed), idx in groups.items():
            src = np.stack([self._prepare(requests[i].content) for i in idx])
            ex = np.stack([self._prepare(requests[i].style) for i in idx])
            images = reference.translate_images(self.model, src, ex, direction[0], seed,
                                                self.device)
            for i, img in zip(idx, images, strict=True):
                shape = requests[i].output_shape
                out[i] = resize(to_float(img), shape)
        return out

    def run(self, request: Request) -> np.ndarray:
        return self.run_batch([request])[0]


@register
class EGSCITMethod(_Translator):
    """EGSC-IT (Ma et al., ICLR 2019); ablation and AdaIN variant from the checkpoint."""

    name = "egsc-it"
    summary = "EGSC-IT exemplar-guided translation (trained checkpoint)"
    prefers_gpu = True


@register
class CycleGANMethod(_Translator):
    """CycleGAN (Zhu et al., ICCV 2017); ignores the exemplar."""

    name = "cyclegan"
    summary = "CycleGAN two-domain translation (trained checkpoint; exemplar unused)"


@register
class UNITMethod(_Translator):
    """UNIT (Liu et al., NIPS 2017, ``CoVAE32x32``); ignores the exemplar."""

    name = "unit"
    summary = "UNIT shared-latent translation (trained checkpoint; exemplar unused)"


@register
class MUNITMethod(_Translator):
    """MUNIT (Huang et al., ECCV 2018); style code encoded from the exemplar."""

    name = "munit"
    summary = "MUNIT multimodal translation, exemplar style (trained checkpoint)"


class _Reference(Method):
    kind = "reference"
    version = "1"
    fn: ClassVar[Any]

    def run(self, request: Request) -> np.ndarray:
        image = type(self).fn(to_uint8(request.content), to_uint8(request.style))
        return resize(to_float(image), request.output_shape)


@register
class Identity(_Reference):
    """Returns the source image (a reference row of the digit SSIM table)."""

    name = "identity"
    summary = "source image unchanged (translation reference)"
    fn = reference.identity


@register
class CopyExemplar(_Reference):
    """Returns the exemplar image (a reference row of the digit SSIM table)."""

    name = "copy-exemplar"
    summary = "exemplar image unchanged (translation reference)"
    fn = reference.copy_exemplar


@register
class ColourOracle(_Reference):
    """MNIST-Single ground truth from the inputs: the source's binary shape in the
    exemplar's background/foreground colours. Exact on MNIST-Single inputs at
    file resolution; not defined for MNIST-Multiple (per-class colours)."""

    name = "colour-oracle"
    summary = "source shape in the exemplar's two colours (MNIST-Single ground truth)"
    fn = reference.colour_oracle
