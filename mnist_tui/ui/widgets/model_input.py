"""The 28x28 image the model actually sees, after the MNIST preprocessing (engine/digitize.py)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text

from ..common.pixels import SIDE, downscale, halfblock_lines
from .cached_lines import CachedLines
from .ink import panel_ink


class ModelInput(CachedLines):

    DEFAULT_CSS = """
    ModelInput > .model-input--ink { color: $foreground; }
    ModelInput > .model-input--empty { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"model-input--ink", "model-input--empty"}

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.image = b""

    def on_mount(self) -> None:
        self.border_title = "Model input"

    def set_image(self, image: bytes) -> None:
        self.image = image
        self.refresh()

    def key(self) -> object:
        return self.image

    def lines(self, width: int, height: int) -> list[Text]:
        if len(self.image) != SIDE * SIDE:
            return [Text("(blank)", style=self.get_component_rich_style("model-input--empty", partial=True))]
        background, ink = panel_ink(self, "model-input--ink")
        px = SIDE if height >= SIDE // 2 and width >= SIDE else SIDE // 2
        return halfblock_lines(downscale(self.image, px), background, ink)
