"""A model's weights on the CPU, ready to say what a single 28x28 digit is (the canvas, ``mnist-tui predict``).

A ``Predictor`` holds its own copy of the network: built from a state dict (the live run's latest weights,
copied by the trainer, see latest_weights.py) or from a checkpoint, in eval mode with its conv + batch-norm
pairs folded (models.fold_batch_norm), its parameters frozen. It never shares a tensor with a training model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .analysis import load_weights
from .checkpoints import load_checkpoint
from .errors import CheckpointError
from .models import build_model, fold_batch_norm
from .preprocess import normalise


class Predictor:
    def __init__(self, model_name: str, state: Mapping[str, torch.Tensor], *, source: str = "", iteration: int = 0):
        """``state``: a state dict of the ``model_name`` network (copied here; the caller's stays its own)."""
        model = build_model(model_name)
        try:
            model.load_state_dict({k: v.detach().to("cpu", copy=True) for k, v in state.items()})
        except (RuntimeError, KeyError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{source or 'the weights'}: do not fit the {model_name} model ({reason[:160]})")
        self.model = fold_batch_norm(model.eval())
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model_name = model_name
        self.source = source  # where the weights came from, for the screen
        self.iteration = iteration  # the training iteration they are from (0 when not known)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, model_name: str) -> "Predictor":
        """The weights in checkpoint ``path`` (of a run of ``model_name``); CheckpointError in one line."""
        path = Path(path)
        checkpoint = load_checkpoint(path, map_location="cpu")
        model = load_weights(model_name, checkpoint, path)
        iteration = int((checkpoint.get("loop") or {}).get("iteration", 0))
        return cls(model_name, model.state_dict(), source=f"{path.parent.parent.name}/{path.name}", iteration=iteration)

    def inputs(self, images: np.ndarray | Sequence[bytes]) -> torch.Tensor:
        """uint8 images (an array [N, 28, 28] or [28, 28], or raw 784-byte blobs) -> the normalised batch."""
        if not isinstance(images, np.ndarray):
            images = np.stack([np.frombuffer(b, dtype=np.uint8).reshape(28, 28) for b in images])
        if images.ndim == 2:
            images = images[None]
        return normalise(torch.from_numpy(np.array(images, dtype=np.uint8)))  # a copy: the caller's may be read-only

    def probabilities(self, images: np.ndarray | Sequence[bytes]) -> np.ndarray:
        """The ten class probabilities of each image: float64 [N, classes]."""
        with torch.inference_mode():
            return torch.softmax(self.model(self.inputs(images)).double(), 1).numpy()

    def predict(self, image: np.ndarray | bytes) -> tuple[float, ...]:
        """The class probabilities of one 28x28 uint8 image."""
        return tuple(self.probabilities([image] if isinstance(image, bytes) else image)[0].tolist())

