"""Asks before quitting while a run is active: quitting stops the run cleanly first."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class QuitScreen(ModalScreen[bool]):
    """Dismisses with True to stop the run and quit, False to keep going."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("y", "answer(True)", "Stop and quit"),
        Binding("n,escape", "answer(False)", "Keep running"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Label("Quit while the run is going?", id="quit-title")
            yield Label(
                "The run finishes its step, evaluates, saves a checkpoint and its summary, then the app "
                "closes. The run directory stays complete and can be resumed.",
                id="quit-text",
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Stop and quit (y)", variant="error", id="quit-yes")
                yield Button("Keep running (n)", variant="primary", id="quit-no")

    def on_mount(self) -> None:
        self.query_one("#quit-yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "quit-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
