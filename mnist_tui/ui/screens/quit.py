"""Asks before quitting while a run is active: stop the run cleanly first, or detach and let it go on."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

STOP = "stop"
DETACH = "detach"
KEEP = ""


class QuitScreen(ModalScreen[str]):
    """Dismisses with STOP (stop the run and quit), DETACH (the run goes on in the background) or KEEP."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("y", "answer('stop')", "Stop and quit"),
        Binding("d", "answer('detach')", "Detach"),
        Binding("n,escape", "answer('')", "Keep running"),
    ]

    def __init__(self, *, can_detach: bool = True) -> None:
        super().__init__()
        self.can_detach = can_detach

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Label("Quit while the run is going?", id="quit-title")
            text = (
                "Stop: the run finishes its step, evaluates, saves a checkpoint and its summary, then the app "
                "closes. The run directory stays complete and can be resumed."
            )
            if self.can_detach:
                text += (
                    "\nDetach: the run saves and goes on in a background process that outlives this terminal; "
                    "'mnist-tui attach' brings this screen back."
                )
            yield Label(text, id="quit-text")
            with Horizontal(id="quit-buttons"):
                yield Button("Stop and quit (y)", variant="error", id="quit-yes")
                if self.can_detach:
                    yield Button("Detach (d)", variant="warning", id="quit-detach")
                yield Button("Keep running (n)", variant="primary", id="quit-no")

    def on_mount(self) -> None:
        self.query_one("#quit-yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss({"quit-yes": STOP, "quit-detach": DETACH}.get(event.button.id or "", KEEP))

    def action_answer(self, answer: str) -> None:
        if answer == DETACH and not self.can_detach:
            return
        self.dismiss(answer)
