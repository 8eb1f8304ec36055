"""Saving what the app shows as an SVG file, named by the time, never over an earlier one.

Under the ANSI themes the screen is in the terminal's own colours, which the SVG cannot know: it shows them with
Textual's palette for a light or a dark terminal, as the theme says (Textual's own export always used a dark one).
"""

from __future__ import annotations

import io
import os
import time

from rich.console import Console
from textual.app import App


def screen_svg(app: App) -> str:
    """``app``'s screen as an SVG document (Textual's export_screenshot, with the terminal's palette)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    theme = app.ansi_theme if app.current_theme.ansi else None  # None: rich's own dark page for the others
    return console.export_svg(title=app.title, theme=theme)


def save_svg(app: App, directory: str, name: str | None = None) -> str:
    """Save ``app``'s screen as ``name``, or ``screenshot-YYYYmmdd-HHMMSS[-N].svg``, in ``directory``; its path.
    OSError if it cannot."""
    if name is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name, n = f"screenshot-{stamp}.svg", 2
        while os.path.exists(os.path.join(directory, name)):
            name, n = f"screenshot-{stamp}-{n}.svg", n + 1
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as file:
        file.write(screen_svg(app))
    return path
