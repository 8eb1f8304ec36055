"""Which Textual theme the app uses: by default the terminal's own colours, else one the user names.

The ANSI themes leave the background and text to the terminal and draw with its 16 colours, so the app looks
like the rest of the user's terminal (light or dark, whatever palette). Which of the two: the ``COLORFGBG``
hint many terminals set ("15;0": light text on black) says whether the background is light; without it, dark.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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
