"""The data set where training reads it: normalised once, resident on the training device.

A batch is an index slice of these tensors (no per-image work, no host round trip), and an evaluation is
a few large slices of the validation or test tensors. The training set here is what is left after the
validation split (split.py). Only the validation and test digits' 8-bit pictures stay on the CPU, for the
misclassified-digit browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .data import Arrays
from .events import TEST, VALIDATION
from .preprocess import normalise
from .split import Split


def memory_layout(device: torch.device) -> torch.memory_format:
    """channels_last: a third faster for these small convolutions on CPU (oneDNN) and on CUDA (cuDNN)."""
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


@dataclass(frozen=True)
class EvalSet:
    """A set evaluated whole: the validation set or the test set."""

    name: str  # events.VALIDATION or events.TEST
    x: torch.Tensor  # float [M, 1, 28, 28], normalised, on the device
    y: torch.Tensor  # int64 [M], on the device
    images: torch.Tensor  # uint8 [M, 28, 28] on the CPU: where the misclassified digits are drawn from
    index: torch.Tensor | None  # each image's position in the data set's own file (None: the same as here)


@dataclass(frozen=True)
class DeviceData:
    train_x: torch.Tensor  # float [N, 1, 28, 28], normalised, on the device
    train_y: torch.Tensor  # int64 [N], on the device
    validation: EvalSet | None  # held out of the training set (None: --val-split 0)
    test: EvalSet
    class_names: tuple[str, ...]

    @classmethod
    def load(cls, arrays: Arrays, class_names: Sequence[str], device: torch.device, split: Split) -> DeviceData:
        layout = memory_layout(device)

        def to_device(images: torch.Tensor) -> torch.Tensor:
            return normalise(images.to(device)).contiguous(memory_format=layout)

        validation = None
        if len(split.validation):
            images = arrays.train_images[split.validation]
            labels = arrays.train_labels[split.validation].to(device)
            validation = EvalSet(VALIDATION, to_device(images), labels, images, split.validation)
            train_images, train_labels = arrays.train_images[split.train], arrays.train_labels[split.train]
        else:
            train_images, train_labels = arrays.train_images, arrays.train_labels
        return cls(
            train_x=to_device(train_images),
            train_y=train_labels.to(device),
            validation=validation,
            test=EvalSet(TEST, to_device(arrays.test_images), arrays.test_labels.to(device), arrays.test_images, None),
            class_names=tuple(class_names),
        )

    @property
    def deciding(self) -> EvalSet:
        """The set scheduled evaluations are of: validation, which decides; else test, which only reports."""
        return self.validation if self.validation is not None else self.test
