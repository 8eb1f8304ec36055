"""Saving what the app shows as an SVG file, named by the time, never over an earlier one."""

from __future__ import annotations

import os
import time

from textual.app import App


def save_svg(app: App, directory: str) -> str:
    """Save ``app``'s screen as ``screenshot-YYYYmmdd-HHMMSS[-N].svg`` in ``directory``; its path. OSError if not."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, n = f"screenshot-{stamp}.svg", 2
    while os.path.exists(os.path.join(directory, name)):
        name, n = f"screenshot-{stamp}-{n}.svg", n + 1
    os.makedirs(directory, exist_ok=True)
    return app.save_screenshot(filename=name, path=directory)
