"""What the model looks at: gradient x input attribution maps for a chosen class, on a Predictor's CPU copy.

For class ``c`` the map is d logit_c / d x  *  (x - blank), per pixel, where x is the normalised image and
blank the normalised empty field: a first-order estimate of how much each pixel's ink adds to (positive) or
takes from (negative) the class's score, against an empty image. Where there is no ink the map is zero.
One forward and one backward pass per class, on a model whose weights are frozen: it never touches a
training model, and it runs in whatever thread calls it (the UI calls it from a worker).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .predictor import Predictor
from .preprocess import MEAN, STD

BLANK = (0.0 - MEAN) / STD  # an empty pixel, normalised


def gradient_x_input(predictor: Predictor, image: np.ndarray | bytes, classes: Sequence[int]) -> np.ndarray:
    """The attribution map of ``image`` (uint8 28x28, or its 784 bytes) for each of ``classes``: float64
    [len(classes), 28, 28], each positive where the ink speaks for the class, negative where against it."""
    x = predictor.inputs([image] if isinstance(image, bytes) else image)
    n_classes = None
    maps = []
    with torch.enable_grad():
        for c in classes:
            xi = x.clone().requires_grad_(True)
            logits = predictor.model(xi)
            n_classes = logits.shape[1]
            if not 0 <= c < n_classes:
                raise ValueError(f"class {c} is not one of the model's {n_classes}")
            (grad,) = torch.autograd.grad(logits[0, c], xi)
            maps.append((grad * (x - BLANK))[0, 0].double().numpy())
    return np.stack(maps) if maps else np.zeros((0, 28, 28))
