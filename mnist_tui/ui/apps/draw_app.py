"""``mnist-tui draw [RUN_DIR]`` in the terminal: the drawing canvas on its own, with a finished run's weights."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding

from ..common.inference import RunWeights
from ..screens.draw import DrawScreen
from .base import StandaloneApp


class StandaloneDrawScreen(DrawScreen):
    """The canvas as the whole app: leaving it quits."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,q", "close", "Quit", tooltip="Quit")]


class DrawApp(StandaloneApp[None]):
    TITLE = "mnist-tui draw"

    def __init__(self, run_dir: str, class_names: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.class_names = class_names

    def on_mount(self) -> None:
        names = {"class_names": self.class_names} if self.class_names else {}
        self.push_screen(StandaloneDrawScreen(RunWeights(self.run_dir), **names), lambda _: self.exit())


def run_draw_app(run_dir: str, class_names: tuple[str, ...] | None = None) -> int:
    DrawApp(run_dir, class_names).run()
    return 0
