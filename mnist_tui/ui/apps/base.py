"""What every standalone app shares with the live one: its style sheet and breakpoints, so app.tcss applies
alike, and the terminal's own colours (``TerminalColours``)."""

from __future__ import annotations

from textual.app import App, ReturnType

from ..common.theme import TerminalColours
from ..live.app import MnistApp


class StandaloneApp(TerminalColours, App[ReturnType]):
    """A standalone app (runs, compare, a sweep's screen, inspect, draw), in the terminal's own colours."""

    CSS_PATH = "../app.tcss"
    HORIZONTAL_BREAKPOINTS = MnistApp.HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = MnistApp.VERTICAL_BREAKPOINTS

    def __init__(self) -> None:
        super().__init__()
        self.use_theme()
