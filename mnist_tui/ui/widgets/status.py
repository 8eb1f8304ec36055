"""The run's status line: state, epoch and iteration with a progress bar, accuracy, elapsed time, message.

Each part repaints only when its text changes (a repaint is bytes sent to the user's terminal); a key that
changes the run shows its pending state here at once (``set_pending``), before the run reports it.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.progress_bar import ProgressBar
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static

from ...engine import events
from ..common import format as fmt

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

    DEFAULT_CSS = """
    StatusPanel > .status--bar-done { color: $primary; }
    StatusPanel > .status--bar-todo { color: $surface-lighten-2; }
    """

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
        self.pending: str | None = None  # a state asked for and not yet reported ("PAUSING…"), shown at once
        self._shown: dict[str, object] = {}  # what each part shows now: an unchanged part is not repainted

    def compose(self) -> ComposeResult:
        with Horizontal(id="status-line"):
            yield Label(STATE_LABELS[events.RunState.STARTING], id="status-state", classes="-starting")
            yield Label("", id="status-activity")
            yield Label("", id="status-waited")
            yield Label("", id="status-position")
            yield Static("", id="status-progress")  # a rich bar: drawn at its own width, no animation
            yield Label("", id="status-percent")
            yield Label("", id="status-elapsed")
            yield Label("", id="status-refresh")
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
        label.remove_class(*(f"-{s}" for s in STATE_LABELS), "-pending")
        label.add_class(f"-{state}")
        label.update(STATE_LABELS.get(state, state.upper()))
        self.state = state
        self.pending = None
        if not self.total_steps:  # no run yet: no progress to show, say what is happening instead
            activity = self.query_one("#status-activity", Label)
            if state == events.RunState.FAILED:
                activity.update("")
                self.set_message(message or "", error=True)
            elif message is not None:
                activity.update(message)
        elif message is not None:
            self.set_message(message, error=state == events.RunState.FAILED)

    def set_pending(self, label: str, message: str) -> None:
        """A command was given and the run has not yet answered: say so at once (``PAUSING…``); the run's next
        state replaces it."""
        self.pending = label
        state = self.query_one("#status-state", Label)
        state.add_class("-pending")
        state.update(label)
        self.set_message(message)

    def set_refresh(self, seconds_text: str) -> None:
        """The refresh rate, where it is not the default (``describe`` in common/refresh.py); empty hides it."""
        self._update("#status-refresh", seconds_text)
        self.query_one("#status-refresh").display = bool(seconds_text)  # no margin taken when there is none

    def _update(self, selector: str, content: object) -> None:
        """Show ``content`` in the part ``selector`` unless it shows it already."""
        if self._shown.get(selector) != content:
            self._shown[selector] = content
            self.query_one(selector, Static).update(content)  # type: ignore[arg-type]

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
        self._update("#status-position", f"epoch {epoch}{epochs}  iter {iteration:,}{total}")
        if self.total_steps:
            done = min(iteration, self.total_steps)
            if self._shown.get("bar") != done:  # the bar renders itself at its width, whatever that is by then
                self._shown["bar"] = done
                self.query_one("#status-progress", Static).update(
                    ProgressBar(
                        total=self.total_steps,
                        completed=done,
                        style=self.get_component_rich_style("status--bar-todo"),
                        complete_style=self.get_component_rich_style("status--bar-done"),
                        finished_style=self.get_component_rich_style("status--bar-done"),
                    )
                )
            self._update("#status-percent", f"{100 * done // self.total_steps:3d}%")

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
        self._update("#status-accuracy", "  ".join(parts))

    def set_waited(self, seconds: float) -> None:
        """How long the app has been starting or loading (shows it is alive while torch and data load)."""
        self._update("#status-waited", f"{fmt.duration(seconds)}")

    def set_elapsed(self, seconds: float | None) -> None:
        self._update("#status-elapsed", f"elapsed {fmt.duration(seconds)}")
