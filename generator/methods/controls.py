"""Controls for catch trials and sanity checks: the content or the style image itself."""

from __future__ import annotations

import numpy as np

from stylestudy.generator.imageops import cover_crop, resize, to_float
from stylestudy.generator.method import Method, Request, register


@register
class ContentCopy(Method):
    """The content image resized to the output size: perfect content, no stylization."""

    name = "content-copy"
    version = "1"
    kind = "control"
    summary = "content image, resized (control)"

    def run(self, request: Request) -> np.ndarray:
        return resize(to_float(request.content), request.output_shape)


@register
class StyleCopy(Method):
    """The style image scaled to cover the output size and centre-cropped (control)."""

    name = "style-copy"
    version = "1"
    kind = "control"
    summary = "style image, cover-cropped to the output size (control)"

    def run(self, request: Request) -> np.ndarray:
        return cover_crop(to_float(request.style), request.output_shape)
