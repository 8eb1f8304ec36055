"""The first training digits, as the tutorial shows them before training."""

from __future__ import annotations

from typing import ClassVar

from .digit_grid import DigitGrid


class TrainDigits(DigitGrid):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"digit-grid--ink", "digit-grid--empty"}
    EMPTY_TEXT = "the first training digits appear once the data is loaded…"

    def on_mount(self) -> None:
        self.border_title = "Training digits"

    def update_subtitle(self, shown: int) -> None:
        total = len(self.images)
        subtitle = f"first {total}" if shown >= total else f"{shown} of the first {total} (more room shows more)"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
