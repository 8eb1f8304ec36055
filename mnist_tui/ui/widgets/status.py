"""The run's status line: state, epoch and iteration with a progress bar, accuracy, elapsed time, message."""

from __future__ import annotations

import math
from typing import ClassVar

from rich.progress_bar import ProgressBar
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static

from ...engine import events
from .. import format as fmt

STATE_LABELS = {
    events.RunState.STARTING: "STARTING",
    events.RunState.LOADING: "LOADING DATA",
    events.RunState.RUNNING: "RUNNING",
    events.RunState.PAUSED: "PAUSED",
    events.RunState.STOPPING: "STOPPING…",
    events.RunState.FINISHED: "FINISHED",
    events.RunState.EARLY_STOPPED: "EARLY-STOPPED",
    events.RunState.FAILED: "FAILED",
}


class StatusPanel(Widget):
    """Two lines at the top of the screen. The app sets what it shows; it computes nothing."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"status--bar-done", "status--bar-todo"}

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.state = events.RunState.STARTING
        self.message = ""
        self.epochs = 0
        self.total_steps = 0
        self.steps_per_epoch = 0
        self.iteration = 0
        self.epoch = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="status-line"):
            yield Label(STATE_LABELS[events.RunState.STARTING], id="status-state", classes="-starting")
            yield Label("", id="status-activity")
            yield Label("", id="status-waited")
            yield Label("", id="status-position")
            yield Static("", id="status-progress")  # a rich bar: drawn at its own width, no animation
            yield Label("", id="status-percent")
            yield Label("", id="status-elapsed")
        with Horizontal(id="status-detail"):
            yield Label("", id="status-accuracy")
            yield Label("", id="status-message")

    def on_mount(self) -> None:
        self.add_class("-preparing")
        self._validation: float | None = None
        self._test: float | None = None
        self._best: tuple[float, int | None] | None = None
        self.set_accuracy("test", None, None, None)
        self.set_elapsed(0.0)

    # What the app sets ---------------------------------------------------------------------------------
    def set_state(self, state: str, message: str | None = None) -> None:
        label = self.query_one("#status-state", Label)
        label.remove_class(*(f"-{s}" for s in STATE_LABELS))
        label.add_class(f"-{state}")
        label.update(STATE_LABELS.get(state, state.upper()))
        self.state = state
        if not self.total_steps:  # no run yet: no progress to show, say what is happening instead
            activity = self.query_one("#status-activity", Label)
            if state == events.RunState.FAILED:
                activity.update("")
                self.set_message(message or "", error=True)
            elif message is not None:
                activity.update(message)
        elif message is not None:
            self.set_message(message, error=state == events.RunState.FAILED)

    def set_message(self, message: str, *, error: bool = False) -> None:
        """The second line: what the run says (the latest log line while loading, an error when it failed)."""
        self.message = message
        label = self.query_one("#status-message", Label)
        label.set_class(error, "-error")
        label.update(" ".join(message.split()))  # one line: newlines from a traceback would break the row

    def set_run(self, *, total_steps: int, steps_per_epoch: int, start_iteration: int = 0) -> None:
        self.remove_class("-preparing")
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.epochs = math.ceil(total_steps / steps_per_epoch) if steps_per_epoch else 0
        self.set_position(start_iteration, (start_iteration // steps_per_epoch + 1) if steps_per_epoch else 0)

    def set_position(self, iteration: int, epoch: int) -> None:
        self.iteration, self.epoch = iteration, epoch
        epochs = f"/{self.epochs}" if self.epochs else ""
        total = f"/{self.total_steps:,}" if self.total_steps else ""
        self.query_one("#status-position", Label).update(f"epoch {epoch}{epochs}  iter {iteration:,}{total}")
        if self.total_steps:
            done = min(iteration, self.total_steps)
            self.query_one("#status-progress", Static).update(
                ProgressBar(
                    total=self.total_steps,
                    completed=done,
                    style=self.get_component_rich_style("status--bar-todo"),
                    complete_style=self.get_component_rich_style("status--bar-done"),
                    finished_style=self.get_component_rich_style("status--bar-done"),
                )
            )
            self.query_one("#status-percent", Label).update(f"{100 * done // self.total_steps:3d}%")

    def set_accuracy(
        self, split: str, latest: float | None, best: float | None, best_iteration: int | None
    ) -> None:
        """The latest accuracy of ``split`` ("validation" or "test"), and the best validation accuracy."""
        if split == "test":
            self._test = latest
        else:
            self._validation = latest
        if best is not None:
            self._best = (best, best_iteration)
        parts = []
        if self._validation is not None:
            parts.append(f"val {fmt.fraction(self._validation)}")
        if self._best is not None:
            best_value, at = self._best
            parts.append(f"best val {fmt.fraction(best_value)}" + (f" @ {at:,}" if at else ""))
        if self._test is not None or not parts:
            parts.append(f"test {fmt.fraction(self._test)}")
        self.query_one("#status-accuracy", Label).update("  ".join(parts))

    def set_waited(self, seconds: float) -> None:
        """How long the app has been starting or loading (shows it is alive while torch and data load)."""
        self.query_one("#status-waited", Label).update(f"{fmt.duration(seconds)}")

    def set_elapsed(self, seconds: float | None) -> None:
        self.query_one("#status-elapsed", Label).update(f"elapsed {fmt.duration(seconds)}")
