"""Keys and what the panels show."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS = (
    ("p / space", "pause the run, or resume it"),
    ("s", "stop gracefully: finish the step, evaluate, save; the app stays open to look around"),
    ("c", "save a checkpoint now (last.pt in the run directory)"),
    ("d", "switch the digit panel between the training digits and the predictions"),
    ("m", "browse the misclassified test digits, the confusion matrix and per-class accuracy (after an evaluation)"),
    ("t", "try the model: draw a digit (mouse, or arrows and space) and watch its probabilities and what it looks at"),
    ("e", "early-stopping settings: on/off, metric, patience, min Δ, warm-up, restore best (at the next evaluation)"),
    ("l", "learning rate: type a new one, or ↓ ×0.1 / ↑ ×10 (from the next step)"),
    ("S", "save an SVG screenshot of the screen into the run directory"),
    ("z", "enlarge the focused panel to the whole screen (the loss chart if none is), and back; tab moves the focus"),
    ("y / n", "loss chart: log or linear scale / the whole run or the last 500 iterations"),
    ("a", "accuracy chart: zoom to the top point of its range, and back"),
    ("?", "this help"),
    ("q", "quit: while the run is active, asks to stop it (it saves) or detach it (it goes on in the background)"),
    ("ctrl+p", "command palette: the same actions by name"),
)

PANELS = (
    ("Loss", "training loss per step (raw and smoothed), the validation loss at each evaluation, the test loss at "
     "each epoch end"),
    ("Accuracy", "validation accuracy at each evaluation (it decides: early stopping, the best weights; the line "
     "marks its best) and test accuracy at each epoch end (it only reports)"),
    ("Training digits", "the first 40 training digits, as the tutorial shows them"),
    ("Predictions", "test digits with the model's latest guess: ✓ right, ✗(true label) wrong"),
    ("Device", "what the run trains on, its load and memory, throughput and time left"),
    (
        "Early stopping",
        "on or off; the best value of the watched metric and its iteration; evaluations without gain against "
        "the patience; how many evaluations are left before a stop; the learning rate, and any plateau cut",
    ),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, run_dir: str | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        for key, text in KEYS:
            keys.add_row(key, text)
        panels = Table.grid(padding=(0, 2))
        panels.add_column(style="bold", no_wrap=True)
        panels.add_column()
        for name, text in PANELS:
            panels.add_row(name, text)
        with VerticalScroll(id="help-dialog"):
            yield Label("mnist-tui · help  (escape, ? or q closes; arrows scroll)", id="help-title")
            yield Static(keys, classes="help-section")
            yield Static(panels, classes="help-section")
            yield Static(f"Run directory: {self.run_dir or 'not created yet'}", id="help-run-dir")

    def on_mount(self) -> None:
        self.query_one("#help-dialog").focus()  # arrows and page keys scroll it: no mouse needed

    def action_close(self) -> None:
        self.dismiss(None)
