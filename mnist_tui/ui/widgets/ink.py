"""Which colours a panel draws grey levels with (ui/common/pixels.py): true colours to blend between, or None.

None means the colours are the terminal's own (an ANSI theme: ``ansi_default`` is whatever the terminal's
background is, and ANSI colours are whatever its palette says), too few to blend (a 16-colour terminal, where
faint ink rounds to the panel's colour) or there are none (``NO_COLOR``). Blending
towards a colour nobody knows picks black on a black terminal, so then the pixels take the terminal's default
ink and shade by character instead. One place decides this for every digit and map panel.
"""

from __future__ import annotations

from rich.color import Color as RichColor
from textual.widget import Widget

from ..common.pixels import RGB


FEW_COLOURS = frozenset({"standard", "windows"})  # the 16 colours: a blend comes out as the panel or the ink


def own_colours(widget: Widget) -> bool:
    """Whether ``widget`` is drawn in colours only the terminal knows, too few to blend, or none at all."""
    _, background = widget.background_colors
    return widget.app.no_color or background.ansi is not None or widget.app.console.color_system in FEW_COLOURS


def _true(colour: RichColor | None) -> RGB | None:
    if colour is None or colour.is_system_defined:  # the default or one of the 16: the terminal's palette
        return None
    triplet = colour.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def panel_ink(widget: Widget, component: str) -> tuple[RGB | None, RGB | None]:
    """(background, ink) to blend digits between on ``widget``, from its ``component`` class's colour; (None,
    None) where either is the terminal's own or there is no colour (see the module)."""
    if own_colours(widget):
        return None, None
    ink = _true(widget.get_component_rich_style(component, partial=True).color)
    _, background = widget.background_colors
    return (background.rgb, ink) if ink is not None else (None, None)


def map_ink(widget: Widget, prefix: str) -> tuple[RGB | None, RGB | None, RGB | None]:
    """(background, positive, negative) for a signed map on ``widget`` from its ``PREFIX--positive`` and
    ``--negative`` classes. The background is None where it is the terminal's own; a side's colour is None
    where there is no colour or only 16 (where orange and blue come out as whatever the palette has), and the
    map then tells the sides apart by character."""
    _, background = widget.background_colors
    if widget.app.no_color or widget.app.console.color_system in FEW_COLOURS:
        return None, None, None

    def colour(component: str) -> RGB | None:
        return _true(widget.get_component_rich_style(f"{prefix}--{component}", partial=True).color)

    return (None if own_colours(widget) else background.rgb), colour("positive"), colour("negative")
