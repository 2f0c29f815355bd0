"""A minimal stylestudy method plugin: the content tinted toward the style's mean colour."""

import numpy as np

from stylestudy.generator.imageops import resize
from stylestudy.generator.method import Method, Param, Request


class MeanTint(Method):
    """Shift the content's colours toward the style's mean colour by ``strength``."""

    name = "mean-tint"
    version = "0.1.0"
    kind = "classical"
    summary = "content shifted toward the style's mean colour (example plugin)"
    params = {"strength": Param(float, 0.5, "how far to shift, 0..1", min=0.0, max=1.0)}

    def run(self, request: Request) -> np.ndarray:
        content = resize(request.content, request.output_shape)
        shift = request.style.mean(axis=(0, 1)) - content.mean(axis=(0, 1))
        return np.clip(content + request.params["strength"] * shift, 0.0, 1.0)
