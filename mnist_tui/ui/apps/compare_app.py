"""``mnist-tui compare`` in the terminal: the comparison screen as the whole app (see screens/compare.py)."""

from __future__ import annotations

from collections.abc import Sequence

from ..screens.compare import CompareScreen
from .base import StandaloneApp


class CompareApp(StandaloneApp[None]):
    """Runs side by side, kept up to date; closing the comparison (q, escape) quits.

    ``CompareApp(paths, *, poll_seconds=1.0, rescan_seconds=2.0, title=None, banner="")``

    - ``paths``: run directories, and directories that hold runs (a sweep's). Such a directory is rescanned
      every ``rescan_seconds`` and the runs that appear in it are added (each with its own colour); it may be
      empty at first. Every run is re-read every ``poll_seconds``: a run still training gains its new points,
      an interrupted one that is resumed goes on.
    - ``title``: the app's title (default ``mnist-tui compare``).
    - ``banner``: a line under the screen's title; ``set_banner`` changes it later (from another thread,
      through ``call_from_thread``).

    A run that cannot be read (a damaged config.json) is left out with a warning line on the screen.
    """

    TITLE = "mnist-tui compare"

    def __init__(
        self,
        paths: Sequence[str],
        *,
        poll_seconds: float = 1.0,
        rescan_seconds: float = 2.0,
        title: str | None = None,
        banner: str = "",
    ) -> None:
        super().__init__()
        if title:
            self.title = title
        self.compare = CompareScreen(paths, poll_seconds=poll_seconds, rescan_seconds=rescan_seconds, banner=banner)

    def on_mount(self) -> None:
        self.push_screen(self.compare, lambda _: self.exit())

    def set_banner(self, text: str) -> None:
        if self.compare.is_mounted:
            self.compare.set_banner(text)
        else:
            self.compare.banner = text
