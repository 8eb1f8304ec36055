"""What the model looks at for one class: an attribution map (engine/attribution.py) as half blocks.

Pixels whose ink speaks for the class are drawn in the positive colour, those against it in the negative
one, by strength (the map scaled to its largest magnitude); pixels that do not matter stay blank. A line
under the map shows the colour scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text

from ..common.pixels import RGB, SIDE, downscale_values, normalise_signed, scale_legend, signed_halfblock_lines
from .cached_lines import CachedLines
from .ink import map_ink


def map_lines(
    values: Sequence[float], pixels: int, background: RGB | None, positive: RGB | None, negative: RGB | None
) -> list[Text]:
    """A 784-value map, scaled to its largest magnitude, as ``pixels`` x ``pixels`` half blocks."""
    return signed_halfblock_lines(downscale_values(normalise_signed(values), pixels), background, positive, negative)


class AttributionMap(CachedLines):

    DEFAULT_CSS = """
    AttributionMap > .attribution-map--positive { color: #e07000; }
    AttributionMap > .attribution-map--negative { color: #2f7fe0; }
    AttributionMap > .attribution-map--empty { color: $text-muted; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "attribution-map--positive",
        "attribution-map--negative",
        "attribution-map--empty",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.values: tuple[float, ...] = ()
        self.empty_text = ""

    def set_map(self, values: Sequence[float], title: str) -> None:
        self.values = tuple(values)
        self.border_title = title
        self.refresh()

    def set_empty(self, title: str, text: str = "") -> None:
        self.values = ()
        self.border_title = title
        self.empty_text = text
        self.refresh()

    def key(self) -> object:
        return (self.values, self.empty_text)

    def lines(self, width: int, height: int) -> list[Text]:
        if len(self.values) != SIDE * SIDE:
            return [Text(self.empty_text, style=self.get_component_rich_style("attribution-map--empty", partial=True))]
        background, positive, negative = map_ink(self, "attribution-map")
        px = SIDE if height >= SIDE // 2 + 1 and width >= SIDE else SIDE // 2
        return [*map_lines(self.values, px, background, positive, negative), scale_legend(px, background, positive, negative)]
