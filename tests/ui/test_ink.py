"""Every digit panel's ink can be seen: under every theme the app offers, on 16-, 256- and true-colour
terminals, and with NO_COLOR.

Each digit widget is rendered as the terminal receives it (its lines through the app's filters), and every
cell of ink is checked against what it is drawn on:
- a colour on the terminal's own background (an ANSI theme: nobody but the terminal knows that colour) is
  only the terminal's default ink, which contrasts with its default background by construction, or a colour
  that stands out from black and white backgrounds alike;
- two known colours differ, and the strongest ink of each widget contrasts with its panel (WCAG ratio), after
  the colours are brought down to 256 and 16 colours as a terminal with fewer colours gets them;
- with NO_COLOR the digit still reads: its grey levels are characters, not colours.
"""

from __future__ import annotations

import os
from collections import Counter

from rich.color import Color, ColorSystem, ColorType
from textual.app import App, ComposeResult
from textual.geometry import Region

from helpers.synthetic import make_digits
from helpers.ui import run_async
from mnist_tui.engine.events import Misclassified
from mnist_tui.ui.common.pixels import SHADES
from mnist_tui.ui.common.theme import TERMINAL_DARK, TERMINAL_LIGHT, match_no_color, theme_names
from mnist_tui.ui.widgets.attribution_map import AttributionMap
from mnist_tui.ui.widgets.canvas import Canvas
from mnist_tui.ui.widgets.error_detail import ErrorDetail
from mnist_tui.ui.widgets.model_input import ModelInput
from mnist_tui.ui.widgets.predictions import PredictionStrip
from mnist_tui.ui.widgets.train_digits import TrainDigits

INK = set("▀▄█▐▌" + SHADES[1:] + ":=#")  # half blocks, shades, and a signed map's negative side
CSS_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "mnist_tui", "ui", "app.tcss")


def digits(n: int) -> tuple[list[bytes], list[int]]:
    images, labels = make_digits(n, seed=3)
    return [bytes(image.reshape(-1).tolist()) for image in images], [int(label) for label in labels]


class Panels(App):
    """The app's digit widgets, each with something to show, styled by the app's own stylesheet."""

    CSS_PATH = CSS_PATH

    def __init__(self, theme: str) -> None:
        super().__init__()
        self.theme = theme
        match_no_color(self)  # as the app does: NO_COLOR's filter follows the theme

    def watch_theme(self, theme: str) -> None:
        match_no_color(self)

    def compose(self) -> ComposeResult:
        yield TrainDigits(id="train")
        yield PredictionStrip(id="predictions")
        yield ErrorDetail(id="detail")
        yield Canvas(id="canvas")
        yield ModelInput(id="input")
        yield AttributionMap(id="map")

    def on_mount(self) -> None:
        for widget in self.query("*"):
            widget.styles.height = 16 if not isinstance(widget, ErrorDetail) else 30
        images, labels = digits(8)
        self.query_one(TrainDigits).set_images(images, labels)
        strip = self.query_one(PredictionStrip)
        strip.set_images(images, labels)
        strip.set_predictions(labels, iteration=10)
        entry = Misclassified(4, labels[0], (labels[0] + 1) % 10, 2.0, tuple([0.1] * 10), images[0])
        detail = self.query_one(ErrorDetail)
        detail.set_entry(entry, position="1 of 1")
        signed = [(v - 100) / 155 for v in images[1]]
        detail.set_maps([(entry.predicted, signed), (entry.true, [-v for v in signed])])
        canvas = self.query_one(Canvas)
        for r in range(6, 22):
            canvas.dab(r, 10 + (r % 3))
        self.query_one(ModelInput).set_image(images[2])
        self.query_one(AttributionMap).set_map(signed, "for 3")


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


PALETTE = "palette"  # a colour of the terminal's 16: its palette is made to be read on its background


def shown(colour: Color | None, system: ColorSystem) -> tuple[int, int, int] | str | None:
    """The colour a terminal of ``system`` shows for ``colour``: RGB, PALETTE, or None (its default)."""
    if colour is None or colour.type == ColorType.DEFAULT:
        return None
    down = colour.downgrade(system)
    if down.type == ColorType.STANDARD and colour.type == ColorType.STANDARD:
        return PALETTE
    triplet = down.get_truecolor()  # a colour brought down to the 16 is still near the one asked for
    return (triplet.red, triplet.green, triplet.blue)


def ink_cells(widget) -> tuple[list[tuple[str, Color | None]], Color | None]:
    """The ink of each cell of ``widget`` as the terminal gets it, as (character, colour), and the panel's
    background (the colour of most of its blank cells). A half block is two pixels: its foreground is one,
    and its background the other where that is not the panel's."""
    width, height = widget.size
    segments = [s for strip in widget.render_lines(Region(0, 0, width, height)) for s in strip if s.style]
    blanks = Counter()
    for segment in segments:
        blanks[segment.style.bgcolor] += segment.text.count(" ")
    panel = blanks.most_common(1)[0][0] if blanks else None
    cells = []
    for text, style, _ in segments:
        for ch in text:
            if ch in INK:
                cells.append((ch, style.color))
                if ch in "▀▄" and style.bgcolor != panel:
                    cells.append((ch, style.bgcolor))
            elif ch == " " and isinstance(widget, Canvas) and style.bgcolor != panel:
                cells.append(("painted", style.bgcolor))  # the canvas paints a pixel as its background
    return cells, panel


def grey(colour: tuple[int, int, int] | str | None) -> bool:
    """Whether a colour is no colour: the terminal's default, or a grey (Textual's NO_COLOR on a theme)."""
    return colour is None or (colour != PALETTE and len(set(colour)) == 1)


def check(widget, system: ColorSystem, no_color: bool) -> list[str]:
    """What is wrong with ``widget``'s ink on a terminal of ``system`` (empty: every cell can be seen)."""
    problems = []
    cells, panel = ink_cells(widget)
    if not cells:
        return [f"{widget.id}: no ink drawn at all"]
    bg = shown(panel, system)
    best, unseen = 0.0, 0
    for ch, ink in cells:
        fg = shown(ink, system)
        if no_color and not (grey(fg) and grey(bg)):
            problems.append(f"{widget.id}: colour {ink} on {panel} with NO_COLOR")
        if fg == PALETTE or (fg is None and bg in (None, PALETTE)):
            best = 21.0  # the terminal's own ink, or a palette colour, on its own background
        elif bg in (None, PALETTE):
            # a set colour on a background only the terminal knows: it must stand out from dark and light alike
            worst = min(contrast(fg, (0, 0, 0)), contrast(fg, (255, 255, 255)))
            if worst < 2.5:
                problems.append(f"{widget.id}: {ch!r} in {ink} on the terminal's background ({worst:.1f}:1)")
            best = max(best, worst)
        elif fg is None:
            problems.append(f"{widget.id}: the terminal's own ink on a set background {panel}")
        else:
            unseen += fg == bg
            best = max(best, contrast(fg, bg))
    # The faintest pixels of a blend may round to the panel's colour on 256 colours (they are nearly the
    # panel's colour by design); the digit itself may not.
    if unseen > len(cells) // 5:
        problems.append(f"{widget.id}: {unseen} of {len(cells)} cells of ink are the panel's own colour")
    # 2:1 is about the contrast of a theme's muted text brought down to 16 colours: ink reads as well as text.
    # A map is orange and blue on the panel, read by hue more than by lightness: 1.5:1 (catppuccin-frappe on
    # 256 colours, whose panel comes out as a mid grey, is 1.8:1).
    if best < (1.5 if isinstance(widget, AttributionMap) else 2.0):
        problems.append(f"{widget.id}: its strongest ink contrasts {best:.1f}:1 with its panel")
    if no_color and isinstance(widget, (TrainDigits, ModelInput)):
        if not {ch for ch, _ in cells} & set(SHADES[1:4]):
            problems.append(f"{widget.id}: no grey level shows without colour")
    return sorted(set(problems))[:5]


async def problems_under(themes: list[str], no_color: bool) -> list[str]:
    """Every problem of every digit panel under each theme, on each colour system (one app, retuned live)."""
    old = os.environ.pop("NO_COLOR", None)
    if no_color:
        os.environ["NO_COLOR"] = "1"
    try:
        app = Panels(themes[0])
    finally:
        os.environ.pop("NO_COLOR", None)
        if old is not None:
            os.environ["NO_COLOR"] = old
    problems = []
    async with app.run_test(size=(120, 140)) as pilot:
        for theme in themes:
            for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
                app.theme = theme
                app.console._color_system = system  # the terminal's colours, as rich found them in its environment
                app.refresh(layout=True)
                for widget in app.query("*"):
                    widget.refresh()
                await pilot.pause()
                await pilot.pause()
                for widget in app.query(
                    "TrainDigits, PredictionStrip, ErrorDetail, Canvas, ModelInput, AttributionMap"
                ):
                    problems += [f"{theme} {system.name}: {p}" for p in check(widget, system, no_color)]
    return problems


@run_async
async def test_every_digit_panel_can_be_seen_under_each_theme():
    assert await problems_under(list(theme_names()), no_color=False) == []


@run_async
async def test_every_digit_panel_reads_without_colour():
    assert await problems_under([TERMINAL_DARK, TERMINAL_LIGHT, "textual-dark", "textual-light"], no_color=True) == []


@run_async
async def test_the_check_sees_ink_that_matches_its_background():
    """The check itself: the old way of drawing (blending towards the ANSI theme's colours, which are unknown
    and read as black) is caught on a dark terminal that does not announce its colours."""
    from mnist_tui.ui.widgets import digit_grid

    original = digit_grid.panel_ink
    digit_grid.panel_ink = lambda widget, component: (widget.background_colors[1].rgb, (0, 0, 0))
    try:
        problems = await problems_under([TERMINAL_DARK], no_color=False)
    finally:
        digit_grid.panel_ink = original
    assert any(p.startswith(f"{TERMINAL_DARK} TRUECOLOR: train:") for p in problems), problems
