"""How digits become the network's input: the tutorial's ``ToTensor`` + ``Normalize((0.5,), (0.5,))``,
done on whole tensors on the device, and back to 8-bit images for the screen."""

from __future__ import annotations

import torch

# The tutorial's Normalize((0.5,), (0.5,)) after ToTensor's /255.
MEAN, STD = 0.5, 0.5


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N,28,28] -> float [N,1,28,28], as the tutorial's ToTensor + Normalize((0.5,), (0.5,))."""
    return images.unsqueeze(1).float().div_(255.0).sub_(MEAN).div_(STD)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """The inverse of ``normalise``: float [N,1,28,28] -> uint8 [N,28,28] (rounded, clamped)."""
    return x.squeeze(1).mul(STD).add(MEAN).mul(255).round().clamp(0, 255).to(torch.uint8)
