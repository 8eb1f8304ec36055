"""Augmentation on the training device, a whole batch at a time, and the weight average (EMA).

``random_affine`` rotates, scales and shifts every image of a batch by its own random amounts with ONE
``affine_grid`` + ``grid_sample`` call: no per-image Python, no PIL, no host round trip for the images.
Only the 3 x N random numbers are drawn on the CPU, from a dedicated ``torch.Generator`` (its state goes into
the checkpoint, so a resumed run draws exactly what an uninterrupted one would), and moved to the device.
No flips: a mirrored 2 is not a 2.

``Ema`` keeps an exponential moving average of the weights AND the batch-norm buffers of a model; the
trainer evaluates and saves the average as the run's weights.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BACKGROUND = -1.0  # a blank pixel after the tutorial's normalisation: (0 - 0.5) / 0.5


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    degrees: float = 0.0,
    scale: float = 0.0,
    shift: float = 0.0,
    background: float = BACKGROUND,
) -> torch.Tensor:
    """``x`` [N, C, H, W] with each image rotated by up to ±``degrees``, scaled by 1 ± up to ``scale`` and
    shifted by up to ±``shift`` pixels in x and y (uniformly drawn, independently per image).

    What falls in from outside the image is ``background``. All ranges 0: ``x`` itself, and nothing drawn.
    """
    if not (degrees or scale or shift):
        return x
    n = len(x)
    u = torch.rand(n, 4, generator=generator) * 2 - 1  # uniform in [-1, 1): angle, scale, dx, dy
    return affine(x, u[:, 0] * degrees, 1 + u[:, 1] * scale, u[:, 2] * shift, u[:, 3] * shift, background=background)


def affine(
    x: torch.Tensor,
    degrees: torch.Tensor | float,
    factor: torch.Tensor | float,
    dx: torch.Tensor | float,
    dy: torch.Tensor | float,
    *,
    background: float = BACKGROUND,
) -> torch.Tensor:
    """``x`` [N, C, H, W] rotated by ``degrees``, scaled by ``factor`` (> 1: bigger) and shifted by ``dx``,
    ``dy`` pixels: each a number for the whole batch or a CPU tensor of N, one per image."""
    n, _, h, w = x.shape
    as_n = [torch.as_tensor(v, dtype=torch.float32).expand(n) for v in (degrees, factor, dx, dy)]
    angle, scale, sx, sy = as_n
    angle = torch.deg2rad(angle)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid maps output coordinates (in [-1, 1]) to input coordinates; one pixel is 2/W of that range.
    theta = torch.stack([torch.stack([cos, -sin, -sx * 2 / w], 1), torch.stack([sin, cos, -sy * 2 / h], 1)], 1).to(
        device=x.device, dtype=x.dtype, non_blocking=True
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # grid_sample pads with zeros: sample the image minus its background, then add the background back.
    out = F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.add_(background).contiguous(memory_format=_layout(x))


# Test-time augmentation: the views averaged (degrees, scale, dx, dy), the image itself first.
TTA_VIEWS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 1.0, 0.0, 0.0),
    (-6.0, 1.0, 0.0, 0.0),
    (6.0, 1.0, 0.0, 0.0),
    (0.0, 0.94, 0.0, 0.0),
    (0.0, 1.06, 0.0, 0.0),
    (0.0, 1.0, 1.0, 0.0),
    (0.0, 1.0, -1.0, 0.0),
    (0.0, 1.0, 0.0, 1.0),
    (0.0, 1.0, 0.0, -1.0),
)


def tta_probabilities(model: nn.Module, x: torch.Tensor, batch: int, views=TTA_VIEWS) -> torch.Tensor:
    """The mean of the softmax over ``views`` of ``x`` (the caller sets eval()); [N, classes]."""
    total = None
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            chunk = x[start : start + batch]
            probs = sum(torch.softmax(model(view_of(chunk, v)).float(), 1) for v in views) / len(views)
            total = probs if total is None else torch.cat([total, probs])
    assert total is not None
    return total


def view_of(x: torch.Tensor, view: tuple[float, float, float, float]) -> torch.Tensor:
    return x if view == (0.0, 1.0, 0.0, 0.0) else affine(x, *view)


def _layout(x: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        else (torch.contiguous_format)
    )


class Ema:
    """An exponential moving average of a model's parameters and floating-point buffers.

    ``decay`` is the weight of the old average at each step; early on it is lowered to
    ``(1 + n) / (10 + n)`` after n updates, so the average is not dominated by the random initial weights.
    Integer buffers (batch norm's step count) are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._pairs(model)

    def _pairs(self, model: nn.Module) -> None:
        mine, theirs = self.module.state_dict(), model.state_dict()
        floats = [k for k, v in mine.items() if v.is_floating_point()]
        self._avg = [mine[k] for k in floats]
        self._src = [theirs[k] for k in floats]
        self._copy_dst = [v for k, v in mine.items() if not v.is_floating_point()]
        self._copy_src = [theirs[k] for k, v in mine.items() if not v.is_floating_point()]

    @property
    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        torch._foreach_lerp_(self._avg, self._src, 1.0 - self.current_decay)
        for dst, src in zip(self._copy_dst, self._copy_src):
            dst.copy_(src)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])  # in place: the cached tensors stay the module's
        self.updates = int(state["updates"])
