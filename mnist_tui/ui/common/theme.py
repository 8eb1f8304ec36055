"""Which Textual theme the app uses: by default the terminal's own colours, else one the user names.

The ANSI themes leave the background and text to the terminal and draw with its 16 colours, so the app looks
like the rest of the user's terminal (light or dark, whatever palette). Which of the two: the ``COLORFGBG``
hint many terminals set ("15;0": light text on black) says whether the background is light; without it, dark.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from textual.app import App
from textual.filter import Monochrome, NoColor
from textual.theme import BUILTIN_THEMES

TERMINAL_DARK, TERMINAL_LIGHT = "ansi-dark", "ansi-light"
LIGHT_BACKGROUNDS = frozenset({"7", "15"})  # the ANSI colours that are a light background (white, bright white)


def theme_names() -> tuple[str, ...]:
    """Every theme ``--theme`` and the palette offer, sorted."""
    return tuple(sorted(BUILTIN_THEMES))


def terminal_theme(environ: Mapping[str, str] = os.environ) -> str:
    """The ANSI theme that matches the terminal's background, as far as it tells."""
    background = environ.get("COLORFGBG", "").rpartition(";")[2].strip()
    return TERMINAL_LIGHT if background in LIGHT_BACKGROUNDS else TERMINAL_DARK


def check_theme(name: str) -> str | None:
    """None if ``name`` is a theme, else one line saying which ones there are."""
    if name in BUILTIN_THEMES:
        return None
    return f"--theme {name}: no such theme (one of: {', '.join(theme_names())})"


def match_no_color(app: App) -> None:
    """With ``NO_COLOR``, keep Textual's colour filter right for the theme in use.

    Textual picks the filter once, for the theme an app is created with: NoColor (the terminal's default
    colours) for an ANSI theme, Monochrome (greys) for the others. An app whose theme is set after that, or
    changed from the palette, kept the other one, and Monochrome turns the ANSI themes' unknown colours into
    black on black.
    """
    if not app.no_color:
        return
    wanted = NoColor if app.native_ansi_color else Monochrome
    app._filters[:] = [wanted() if isinstance(f, (NoColor, Monochrome)) else f for f in app._filters]


class TerminalColours:
    """A mixin for the apps: their theme is the one the user named, else the terminal's own colours
    (``terminal_theme``), with NO_COLOR's filter kept right as the theme changes (``match_no_color``)."""

    def use_theme(self, name: str | None = None) -> None:
        self.theme = name or terminal_theme()
        match_no_color(self)

    def watch_theme(self, theme: str) -> None:
        match_no_color(self)  # the palette's Theme command may move between an ANSI theme and the others
