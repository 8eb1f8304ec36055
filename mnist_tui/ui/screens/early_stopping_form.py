"""The early-stopping settings, changed during a run: validated here, applied by the trainer at the next evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from ...config import MONITORS, ConfigError, EarlyStoppingConfig

MONITOR_CHOICES = (("validation accuracy (%)", "accuracy"), ("validation loss", "loss"))
# The input that a ConfigError names (its message starts with the command-line flag).
FIELD_OF_FLAG = {"--patience": "#es-patience", "--min-delta": "#es-min-delta", "--warmup-evals": "#es-warmup"}


def reason(error: ConfigError) -> str:
    """The one-line reason, without the command line's dashes: "patience must be … got 0"."""
    return str(error).removeprefix("--")


class EarlyStoppingForm(ModalScreen[None]):
    """Posts ``Submitted`` with valid settings and closes; refuses a bad value with the reason; escape cancels."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    @dataclass
    class Submitted(Message):
        """New early-stopping settings, already validated."""

        config: EarlyStoppingConfig

    def __init__(self, current: EarlyStoppingConfig) -> None:
        super().__init__()
        self.current = current
        self.error = ""  # the reason the last submit was refused, for tests

    def compose(self) -> ComposeResult:
        c = self.current
        monitor = c.monitor if c.monitor in MONITORS else MONITORS[0]
        with Vertical(id="es-form-dialog"):
            yield Label("Early stopping · applies at the next evaluation", id="es-form-title")
            with Horizontal(classes="es-form-row"):
                yield Label("enabled", classes="es-form-label")
                yield Checkbox("on", c.enabled, id="es-enabled", compact=True)
                yield Label("stop when the metric stops improving", classes="es-form-hint")
            with Horizontal(classes="es-form-row"):
                yield Label("monitor", classes="es-form-label")
                yield Select(MONITOR_CHOICES, value=monitor, allow_blank=False, id="es-monitor", compact=True)
                yield Label("a new monitor starts its best over", classes="es-form-hint")
            with Horizontal(classes="es-form-row"):
                yield Label("patience", classes="es-form-label")
                yield Input(str(c.patience), id="es-patience", compact=True)
                yield Label("evaluations without gain before stop", classes="es-form-hint")
            with Horizontal(classes="es-form-row"):
                yield Label("min Δ", classes="es-form-label")
                yield Input(f"{c.min_delta:g}", id="es-min-delta", compact=True)
                yield Label("a gain must beat the best by more", classes="es-form-hint")
            with Horizontal(classes="es-form-row"):
                yield Label("warm-up", classes="es-form-label")
                yield Input(str(c.warmup_evals), id="es-warmup", compact=True)
                yield Label("evaluations before any stop", classes="es-form-hint")
            with Horizontal(classes="es-form-row"):
                yield Label("restore best", classes="es-form-label")
                yield Checkbox("on", c.restore_best, id="es-restore-best", compact=True)
                yield Label("end with the best weights seen", classes="es-form-hint")
            yield Label("", id="es-form-error")
            with Horizontal(id="es-form-buttons"):
                yield Button("Apply (enter)", variant="primary", id="es-form-ok", compact=True)
                yield Button("Cancel (esc)", id="es-form-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#es-patience", Input).focus()  # the setting changed most; its text is selected

    # Reading and checking the form -----------------------------------------------------------------------
    def read(self) -> EarlyStoppingConfig:
        """The settings in the form; ConfigError with a one-line reason when a value is bad."""

        def whole(selector: str, name: str) -> int:
            text = self.query_one(selector, Input).value.strip()
            try:
                return int(text)
            except ValueError:
                raise ConfigError(f"--{name} must be a whole number, got {text!r}") from None

        def number(selector: str, name: str) -> float:
            text = self.query_one(selector, Input).value.strip()
            try:
                return float(text)
            except ValueError:
                raise ConfigError(f"--{name} must be a number, got {text!r}") from None

        return EarlyStoppingConfig(  # the fields are read, and refused, in the form's order
            enabled=self.query_one("#es-enabled", Checkbox).value,
            monitor=str(self.query_one("#es-monitor", Select).value),
            patience=whole("#es-patience", "patience"),
            min_delta=number("#es-min-delta", "min-delta"),
            warmup_evals=whole("#es-warmup", "warmup-evals"),
            restore_best=self.query_one("#es-restore-best", Checkbox).value,
        )

    def show_error(self, error: ConfigError) -> None:
        self.error = reason(error)
        self.query_one("#es-form-error", Label).update(self.error)
        for selector in FIELD_OF_FLAG.values():
            self.query_one(selector, Input).remove_class("-invalid")
        flag = str(error).split(" ", 1)[0]
        if flag in FIELD_OF_FLAG:
            field = self.query_one(FIELD_OF_FLAG[flag], Input)
            field.add_class("-invalid")
            field.focus()

    # Actions ---------------------------------------------------------------------------------------------
    def action_submit(self) -> None:
        try:
            config = self.read()
        except ConfigError as error:
            self.show_error(error)
            return
        self.post_message(self.Submitted(config))
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _enter_in_a_field(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        event.input.remove_class("-invalid")

    @on(Button.Pressed, "#es-form-ok")
    def _ok(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#es-form-cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()
