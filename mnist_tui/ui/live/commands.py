"""The live app's commands, written once: the keys and footer bindings, and the command palette's entries.

Each command has its keys, its word in the footer and its tooltip there; the palette shows the same command by
a title and a help line, which are the footer's word and the tooltip unless the command says otherwise. Each
binding has an id, the name a keymap file (keymap.py) remaps its keys by.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Command:
    keys: str
    action: str  # the app's action_<action>, and the name check_action is asked about
    description: str  # the footer's word
    tooltip: str  # the footer key's tooltip
    title: str = ""  # the palette's title, where it is not the footer's word
    help: str = ""  # the palette's help, where it is not the tooltip
    id: str = ""  # the binding's id in a keymap file, where it is not the action's name
    show: bool = True  # in the footer (the help screen and the palette show every command)

    @property
    def binding_id(self) -> str:
        return self.id or self.action

    @property
    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.description, show=self.show, tooltip=self.tooltip, id=self.binding_id)

    @property
    def palette_title(self) -> str:
        return self.title or self.description

    @property
    def palette_help(self) -> str:
        return self.help or self.tooltip


COMMANDS: tuple[Command, ...] = (
    Command("p,space", "pause", "Pause", "Pause the run after this step"),
    Command("p,space", "resume", "Resume", "Resume the paused run", id="pause"),  # one key, remapped together
    Command(
        "s", "stop", "Stop", "Finish the step, evaluate, save and end the run",
        title="Stop the run", help="Finish the step, evaluate, save; the app stays open",
    ),
    Command(
        "c", "checkpoint", "Checkpoint", "Save a checkpoint now",
        title="Save checkpoint", help="Save a checkpoint of the run now",
    ),
    Command(
        "d", "toggle_digits", "Digits", "Training digits or predictions",
        title="Switch digits", help="Show the training digits or the predictions",
    ),
    Command(
        "m", "errors", "Errors", "Browse the misclassified test digits and the confusion matrix",
        title="Browse errors", help="The misclassified test digits, the confusion matrix, per-class accuracy",
    ),
    Command(
        "t", "draw", "Draw", "Draw a digit and see what the model makes of it (its latest evaluated weights)",
        title="Try the model", help="Draw a digit: the model's probabilities and what it looks at, as you draw",
    ),
    Command("S", "screenshot", "Screenshot", "Save an SVG screenshot into the run directory"),
    Command("question_mark", "help", "Help", "Keys and panels", help="Keys and what the panels show"),
    Command("q", "quit", "Quit", "Quit (asks while the run is active)", help="Quit (asks first while the run is active)"),
    # After q: where the footer is too narrow for all, these are the ones cut (the panel shows them too).
    Command(
        "e", "early_stopping", "Early stop", "Early-stopping settings (apply at the next evaluation)",
        title="Early stopping settings", help="Patience, min delta, warm-up… (at the next evaluation)",
    ),
    Command(
        "l", "learning_rate", "LR", "Set the learning rate, or x0.1 / x10 (from the next step)", title="Learning rate"
    ),
    # Looking closer: the footer has no room for these; the help screen and the palette list them.
    Command(
        "z", "maximize_panel", "Zoom", "Enlarge the focused panel to the whole screen, or back (tab: next panel)",
        title="Enlarge a panel, or back", help="The focused panel (tab moves between them) on the whole screen",
        id="maximize", show=False,
    ),
    Command(
        "y", "loss_scale", "Log/lin", "Loss chart: log or linear scale",
        title="Loss chart: log / linear scale", show=False,
    ),
    Command(
        "n", "loss_window", "Last N", "Loss chart: the whole run, or only the last iterations",
        title="Loss chart: whole run / last iterations", show=False,
    ),
    Command(
        "a", "accuracy_zoom", "Acc. zoom", "Accuracy chart: zoom to the top of its range, or back",
        title="Accuracy chart: zoom to the top", show=False,
    ),
    Command(
        "r", "refresh_rate", "Refresh", "Update the screen less often for a slow link, or more (0.5, 1, 2, 5, 10 s)",
        title="Refresh rate", help="Slower updates send fewer bytes over a slow link (steps 0.5, 1, 2, 5, 10 s)",
        show=False,
    ),
)  # fmt: skip


BINDING_IDS: tuple[str, ...] = tuple(dict.fromkeys(command.binding_id for command in COMMANDS))
DEFAULT_KEYS: dict[str, str] = {command.binding_id: command.keys for command in COMMANDS}
