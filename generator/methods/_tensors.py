"""Image ↔ tensor conversions shared by the optimisation methods (no method lives here)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stylestudy.generator.imageops import output_shape, resize


def to_tensor(image: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """H×W×3 float in [0, 1] → 1×3×H×W float32."""
    arr = np.ascontiguousarray(image, dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous().to(device)


def to_image(x: torch.Tensor) -> np.ndarray:
    """1×3×H×W → H×W×3 float32 clamped to [0, 1]."""
    return torch.clamp(x.detach()[0], 0.0, 1.0).permute(1, 2, 0).cpu().numpy()


def inputs(content: np.ndarray, style: np.ndarray, size: int,
           device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Content and style, each resized (Lanczos, as the runner does) to long side ``size``."""
    c = resize(content, output_shape(*content.shape[:2], size))
    s = resize(style, output_shape(*style.shape[:2], size))
    return to_tensor(c, device), to_tensor(s, device)


def bilinear(x: torch.Tensor, shape: tuple[int, int], align_corners: bool) -> torch.Tensor:
    """Bilinear resize of an N×C×H×W tensor, no antialiasing."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=tuple(shape), mode="bilinear", align_corners=align_corners)


def lbfgs(x0: torch.Tensor, energy, max_iter: int, history_size: int,
          tolerance_grad: float = 0.0, tolerance_change: float = 0.0,
          line_search_fn: str | None = None) -> tuple[torch.Tensor, int]:
    """Minimise ``energy(x)`` from ``x0`` with one ``torch.optim.LBFGS.step`` (step size 1);
    returns the final x and the number of energy evaluations."""
    x = x0.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=max_iter, history_size=history_size,
                            tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                            line_search_fn=line_search_fn)
    count = 0

    def closure():
        nonlocal count
        opt.zero_grad()
        count += 1
        loss = energy(x)
        loss.backward()
        return loss

    opt.step(closure)
    return x.detach(), count


def require_side(method: str, minimum: int, why: str, **shapes: tuple[int, ...]) -> None:
    """One clear error when an image's short side is below ``minimum`` (its deepest feature
    map would be empty or too small to pad)."""
    from stylestudy.errors import UserError

    for what, shape in shapes.items():
        h, w = shape[-2:]
        if min(h, w) < minimum:
            raise UserError(f"{method}: the {what} is {h}×{w} px, too small: its short side "
                            f"must be at least {minimum} px ({why}); use a larger size")
