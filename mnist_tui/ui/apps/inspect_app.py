"""``mnist-tui inspect RUN_DIR`` in the terminal: the error browser on its own, for a finished run."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding

from ...engine.events import EvaluationSnapshot
from ..common.inference import RunWeights
from ..screens.errors import ErrorsScreen
from .base import StandaloneApp


class InspectErrorsScreen(ErrorsScreen):
    """The browser as the whole app: leaving it quits."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,m,q", "close", "Quit", tooltip="Quit")]


class InspectApp(StandaloneApp[None]):
    TITLE = "mnist-tui inspect"

    def __init__(self, snapshot: EvaluationSnapshot, run_dir: str | None = None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.run_dir = run_dir

    def on_mount(self) -> None:
        weights = RunWeights(self.run_dir) if self.run_dir else None  # the weights the snapshot evaluated
        screen = InspectErrorsScreen(self.snapshot, run_dir=self.run_dir, live=False, weights=weights)
        self.push_screen(screen, lambda _: self.exit())


def run_inspect_app(snapshot: EvaluationSnapshot, run_dir: str | None = None) -> int:
    InspectApp(snapshot, run_dir).run()
    return 0
