"""The first training digits, as the tutorial shows them before training, or as the model is fed them.

With augmentation on, the engine sends the same digits augmented at each epoch; the subtitle says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from .digit_grid import DigitGrid


class TrainDigits(DigitGrid):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"digit-grid--ink", "digit-grid--empty"}
    EMPTY_TEXT = "the first training digits appear once the data is loaded…"

    note = ""  # what the digits show when not the plain first ones, e.g. "augmented, as fed in epoch 3"

    def on_mount(self) -> None:
        self.border_title = "Training digits"

    def set_images(
        self, images: Sequence[bytes], labels: Sequence[int], class_names: Sequence[str] = (), *, note: str = ""
    ) -> None:
        self.note = note
        super().set_images(images, labels, class_names)

    def update_subtitle(self, shown: int) -> None:
        total = len(self.images)
        subtitle = f"first {total}" if shown >= total else f"{shown} of the first {total} (more room shows more)"
        if self.note:
            subtitle = f"{subtitle}, {self.note}"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
