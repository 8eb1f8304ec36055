"""Keys and what the panels show. The keys are the app's commands (live/commands.py) with the keys they have now
(a keymap file may have changed them), each with what it does at length; the README's key table is made from
the same rows (``mnist_tui.cli.readme``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import key_to_character
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..live.commands import COMMANDS, DEFAULT_KEYS, Command

# What each command does, by binding id: longer than the footer's word and tooltip. A command missing here is
# still listed, with its palette help (a test asks for a line here for each).
DOES: dict[str, str] = {
    "pause": "pause the run, or resume it",
    "stop": "stop gracefully: finish the step, evaluate, save; the app stays open to look around",
    "checkpoint": "save a checkpoint now (last.pt in the run directory; also while paused)",
    "toggle_digits": "switch the digit panel between the training digits and the predictions (narrow terminals)",
    "errors": "browse the misclassified test digits, the confusion matrix and per-class accuracy (after an "
    "evaluation)",
    "draw": "try the model: draw a digit (mouse, or arrows and space) and watch its probabilities and what it "
    "looks at",
    "screenshot": "save an SVG screenshot of the screen into the run directory",
    "help": "every key, and what the panels show",
    "quit": "quit: while the run is active, asks to stop it (it saves) or detach it (it goes on in the background)",
    "early_stopping": "early-stopping settings: on/off, metric, patience, min Δ, warm-up, restore best (at the next "
    "evaluation)",
    "learning_rate": "learning rate: type a new one, or ↓ ×0.1 / ↑ ×10 (from the next step)",
    "maximize": "enlarge the focused panel to the whole screen (the loss chart if none is), and back (or escape); "
    "tab moves the focus",
    "loss_scale": "loss chart: log or linear scale",
    "loss_window": "loss chart: the whole run or the last 500 iterations",
    "accuracy_zoom": "accuracy chart: zoom to the top point of its range, and back",
    "refresh_rate": "refresh rate: update the screen less often for a slow link (0.5, 1, 2, 5, 10 s, then back)",
}

# Keys that are Textual's own, not the app's commands.
OTHER_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("tab", "shift+tab"), "move the focus between the panels"),
    (("ctrl+p",), "command palette: the same actions by name, and the theme"),
)


def key_name(key: str) -> str:
    """A key as a user types it: ``question_mark`` -> ``?``; names (space, f11, ctrl+s) as they are."""
    if "+" in key or len(key) == 1:
        return key
    character = key_to_character(key)
    return character if character is not None and character.isprintable() and character != " " else key


def key_rows(keys: Mapping[str, str] = DEFAULT_KEYS) -> list[tuple[tuple[str, ...], str]]:
    """One row a binding id, in the commands' order: its keys in ``keys`` (binding id -> "k1,k2"; default:
    the default keys) and what it does; then Textual's own keys."""
    first: dict[str, Command] = {}
    for command in COMMANDS:
        first.setdefault(command.binding_id, command)  # pause and resume share one id (and its row)
    rows: list[tuple[tuple[str, ...], str]] = []
    for binding_id, command in first.items():
        names = tuple(key_name(k.strip()) for k in keys.get(binding_id, command.keys).split(","))
        rows.append((names, DOES.get(binding_id, command.palette_help)))
    return rows + list(OTHER_KEYS)


KEYS: tuple[tuple[str, str], ...] = tuple((" / ".join(names), text) for names, text in key_rows())  # the defaults


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
        keymap = getattr(self.app, "keymap", None)  # MnistApp's: the keys as the user's keymap file set them
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        for names, text in key_rows(keymap.bindings if keymap is not None else DEFAULT_KEYS):
            keys.add_row(" / ".join(names), text)
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
