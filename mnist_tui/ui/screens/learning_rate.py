"""A new learning rate during a run, or the current one times 0.1 or 10: applied from the next step."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from ...config import MAX_LR
from ..common import format as fmt


def parse_lr(text: str) -> float:
    """A learning rate typed by the user; ValueError with the reason when it is not a number above 0."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"the learning rate must be a number such as 1e-3, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"the learning rate must be greater than 0, got {text}")
    if value > MAX_LR:
        raise ValueError(f"the learning rate must be at most {MAX_LR:g}, got {text}")
    return value


class LearningRateScreen(ModalScreen[None]):
    """Posts ``Submitted`` with a new lr (enter) or a factor (↓ ×0.1, ↑ ×10) and closes; escape cancels."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "scale(0.1)", "×0.1"),
        Binding("up", "scale(10)", "×10"),
    ]

    @dataclass
    class Submitted(Message):
        """Exactly one of ``lr`` (use this learning rate) and ``factor`` (multiply it by this)."""

        lr: float | None = None
        factor: float | None = None

    def __init__(self, current: float | None, pending: str | None = None) -> None:
        super().__init__()
        self.current = current
        self.pending = pending
        self.error = ""  # the reason the last value was refused, for tests

    def compose(self) -> ComposeResult:
        now = f"now {fmt.learning_rate(self.current)}"
        if self.pending:
            now += f" · {self.pending} pending"
        value = "" if self.current is None else fmt.learning_rate(self.current)
        with Vertical(id="lr-dialog"):
            yield Label("Learning rate · applies from the next step", id="lr-title")
            with Horizontal(classes="lr-row"):
                yield Label("new lr", id="lr-label")
                yield Input(value, placeholder="e.g. 1e-4", id="lr-value", compact=True)
                yield Label(now, id="lr-now")
            yield Label("", id="lr-error")
            with Horizontal(id="lr-buttons"):
                yield Button("Set (enter)", variant="primary", id="lr-set", compact=True)
                yield Button("×0.1 (↓)", id="lr-down", compact=True)
                yield Button("×10 (↑)", id="lr-up", compact=True)
                yield Button("Cancel (esc)", id="lr-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#lr-value", Input).focus()

    def action_set(self) -> None:
        field = self.query_one("#lr-value", Input)
        try:
            lr = parse_lr(field.value)
        except ValueError as error:
            self.error = str(error)
            self.query_one("#lr-error", Label).update(self.error)
            field.add_class("-invalid")
            field.focus()
            return
        self.post_message(self.Submitted(lr=lr))
        self.dismiss(None)

    def action_scale(self, factor: float) -> None:
        self.post_message(self.Submitted(factor=factor))
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_set()

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        event.input.remove_class("-invalid")

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {"lr-set": self.action_set, "lr-cancel": self.action_cancel}
        if event.button.id in actions:
            actions[event.button.id]()
        else:
            self.action_scale(0.1 if event.button.id == "lr-down" else 10.0)
