"""The digits the screen shows: the first training digits (as fed, when augmented) and a strip of test
digits with the model's predictions. Plain bytes in ``Previews`` events; drawing them is the UI's job."""

from __future__ import annotations

import torch

from .augment import random_affine
from .data import Arrays
from .events import Previews
from .preprocess import normalise, to_uint8

N_TRAIN_PREVIEW = 40  # the tutorial shows the first 40 training digits
N_TEST_PREVIEW = 16  # a strip of test digits with the model's predictions
EPOCH_SEED_FACTOR = 10_007  # an augmented preview's generator is seeded with seed * this + epoch


def first_digits(arrays: Arrays) -> Previews:
    """The first training digits and the test strip, as the data set holds them."""
    return Previews(
        train_images=_blobs(arrays.train_images[:N_TRAIN_PREVIEW]),
        train_labels=tuple(arrays.train_labels[:N_TRAIN_PREVIEW].tolist()),
        test_images=_blobs(arrays.test_images[:N_TEST_PREVIEW]),
        test_labels=tuple(arrays.test_labels[:N_TEST_PREVIEW].tolist()),
    )


class AugmentedPreviews:
    """The first training digits as the model is fed them in an epoch, with augmentation on.

    Drawn from a generator seeded by the seed and the epoch, not the training one, so showing them
    changes nothing about the run.
    """

    def __init__(self, arrays: Arrays, seed: int, ranges: dict[str, float]) -> None:
        self.x = normalise(arrays.train_images[:N_TRAIN_PREVIEW])  # on the CPU, whatever the training device
        self.labels = tuple(arrays.train_labels[:N_TRAIN_PREVIEW].tolist())
        self.seed = seed
        self.ranges = ranges  # random_affine's degrees, scale and shift

    def of_epoch(self, epoch: int) -> Previews:
        rng = torch.Generator().manual_seed(self.seed * EPOCH_SEED_FACTOR + epoch)
        images = to_uint8(random_affine(self.x, rng, **self.ranges))
        return Previews(
            train_images=_blobs(images),
            train_labels=self.labels,
            test_images=(),
            test_labels=(),
            train_note=f"augmented, as fed in epoch {epoch}",
        )


def _blobs(images: torch.Tensor) -> tuple[bytes, ...]:
    return tuple(img.numpy().tobytes() for img in images)
