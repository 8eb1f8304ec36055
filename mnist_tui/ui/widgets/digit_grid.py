"""Shared drawing of a grid of 28x28 digits as half blocks, sized to the space the widget has."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from ..common import format as fmt
from ..common.pixels import RGB, downscale, fit_grid, grid_text, halfblock_lines
from .ink import panel_ink


class DigitGrid(Widget):
    """Images picked by the app, drawn as large as the widget's size allows. Subclasses add captions."""

    DEFAULT_CSS = """
    DigitGrid > .digit-grid--ink { color: $foreground; }
    DigitGrid > .digit-grid--empty { color: $text-muted; }
    """

    GAP = 1
    EMPTY_TEXT = "waiting for the data…"

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.images: tuple[bytes, ...] = ()
        self.labels: tuple[int, ...] = ()
        self.class_names: tuple[str, ...] = ()
        self.shown = 0  # how many images the last render fitted in
        self._cache: dict[tuple[int, int, RGB | None, RGB | None], list[Text]] = {}

    def set_images(self, images: Sequence[bytes], labels: Sequence[int], class_names: Sequence[str] = ()) -> None:
        self.images = tuple(images)
        self.labels = tuple(labels)
        if class_names:
            self.class_names = tuple(class_names)
        self._cache.clear()
        self.refresh_layout_info()

    def set_class_names(self, class_names: Sequence[str]) -> None:
        self.class_names = tuple(class_names)
        self.refresh_layout_info()

    # Drawing -------------------------------------------------------------------------------------------
    def ink_colours(self) -> tuple[RGB | None, RGB | None]:
        """(background, ink): the panel's background and the ink component's colour (None: the terminal's)."""
        return panel_ink(self, "digit-grid--ink")

    def caption(self, index: int) -> Text:
        return Text(fmt.class_label(self.class_names, self.labels[index]) if index < len(self.labels) else "")

    def layout_grid(self) -> tuple[int, int, int, bool, int]:
        """(pixels, columns, rows, captions, count shown) for the current size."""
        width, height = self.content_region.size
        px, columns, rows, captions = fit_grid(len(self.images), width, height, gap=self.GAP)
        return px, columns, rows, captions, min(len(self.images), columns * rows)

    def on_resize(self) -> None:
        self.refresh_layout_info()

    def refresh_layout_info(self) -> None:
        """Recount what fits and say so in the border (not from render: the border is drawn first)."""
        self.shown = self.layout_grid()[-1] if self.images else 0
        if self.images:
            self.update_subtitle(self.shown)
        self.refresh()

    def render(self) -> RenderResult:
        if not self.images:
            return Text(self.EMPTY_TEXT, style=self.get_component_rich_style("digit-grid--empty", partial=True))
        px, columns, _, captions, count = self.layout_grid()
        if count == 0:
            return Text("")
        background, ink = self.ink_colours()
        cells = [self._digit(i, px, background, ink) for i in range(count)]
        return grid_text(
            cells, [self.caption(i) for i in range(count)] if captions else None, columns, px, gap=self.GAP
        )

    def update_subtitle(self, shown: int) -> None:
        """Hook: tell the user when not every image fits."""

    def _digit(self, index: int, px: int, background: RGB | None, ink: RGB | None) -> list[Text]:
        key = (index, px, background, ink)
        if key not in self._cache:
            image = self.images[index]
            grid = downscale(image, px) if len(image) == 28 * 28 else [[0] * px for _ in range(px)]
            self._cache[key] = halfblock_lines(grid, background, ink)
        return self._cache[key]
