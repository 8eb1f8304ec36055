"""Steering the run from the keyboard: pause, resume, stop, save now, and the early-stopping and learning-rate
forms. A mixin of ``MnistApp`` (app.py): each action sends one command through the app's ``RunControl`` and
says on screen that it was taken; the run's events then show when it applied.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.screen import Screen

from ...engine import events as ev
from ...engine.control import RunControl
from ..common import format as fmt
from ..screens import EarlyStoppingForm, LearningRateScreen
from ..widgets.early_stopping import describe_changes


class RunSteering(App[None]):
    """The actions that change the run (``check_action`` in app.py says when each applies). The app provides
    the ``control`` they send to, the ``run_state``, the training screen's ``status`` and
    ``early_stopping_panel``, and ``_stop_run`` (lifecycle.py)."""

    control: RunControl
    run_state: str

    _checkpoint_requested = False  # say "saved" when the checkpoint the user asked for is written
    _opening = False  # a screen is being opened (open_screen): a second press does not open another

    def action_pause(self) -> None:
        self.control.toggle_pause()
        self._show_pending()

    def action_resume(self) -> None:
        self.control.toggle_pause()
        self._show_pending()

    def _show_pending(self) -> None:
        """Say at once that the key was taken (PAUSING…); the run's own state (PAUSED) follows when the step ends."""
        if self.control.paused:
            self.status.set_pending("PAUSING…", "pausing after this step…")
        else:
            self.status.set_pending("RESUMING…", "resuming…")

    def action_stop(self) -> None:
        self._stop_run("stopping: finishing the step, evaluating and saving…")

    def action_checkpoint(self) -> None:
        self.control.save_now()
        self._checkpoint_requested = True
        when = "when the run resumes" if self.run_state == ev.RunState.PAUSED else "after this step"
        self.notify(f"Saving a checkpoint {when}…", title="Checkpoint")

    def _checkpoint_saved(self, event: ev.CheckpointSaved) -> None:
        if self._checkpoint_requested and event.tag == "last":
            self._checkpoint_requested = False
            self.notify(f"Checkpoint saved at iteration {event.iteration:,}", title="Saved")

    def open_screen(self, kind: type[Screen], make: Callable[[], Screen], what: str) -> None:
        """Open a screen made by ``make`` unless one of ``kind`` is open or opening; say so on the status line at
        once and make it after that frame is out. Composing a form costs the UI thread 100-300 ms of CPU
        (Textual's styles for each of its widgets), several times that while the trainer takes the cores, and
        a key that shows nothing for that long gets pressed twice."""
        if isinstance(self.screen, kind) or self._opening:
            return
        self._opening = True
        before = self.status.message
        self.status.set_message(f"opening {what}…")

        def open_now() -> None:
            self._opening = False
            if self.status.message == f"opening {what}…":
                self.status.set_message(before)  # under the screen now; shown again when it closes
            self.push_screen(make())

        self.call_after_refresh(open_now)

    def action_early_stopping(self) -> None:
        form = lambda: EarlyStoppingForm(self.early_stopping_panel.current_settings())
        self.open_screen(EarlyStoppingForm, form, "the early-stopping settings")

    def on_early_stopping_form_submitted(self, message: EarlyStoppingForm.Submitted) -> None:
        if not self._still_going("Early stopping"):
            return
        panel = self.early_stopping_panel
        if message.config == panel.current_settings():
            self.notify("Nothing changed", title="Early stopping")
            return
        changes = describe_changes(panel.settings, message.config)
        self.control.set_early_stopping(message.config)
        panel.set_pending(message.config)
        self.notify(f"{changes}: applies at the next evaluation", title="Early stopping")

    def action_learning_rate(self) -> None:
        panel = self.early_stopping_panel
        self.open_screen(
            LearningRateScreen, lambda: LearningRateScreen(panel.lr, panel.pending_lr), "the learning rate"
        )

    def on_learning_rate_screen_submitted(self, message: LearningRateScreen.Submitted) -> None:
        if not self._still_going("Learning rate"):
            return
        if message.lr is not None:
            self.control.set_lr(message.lr)
            change = fmt.learning_rate(message.lr)
        else:
            self.control.scale_lr(message.factor or 1.0)
            change = f"×{message.factor:g}"
        self.early_stopping_panel.set_pending_lr(change)
        self.notify(f"lr {change}: applies from the next step", title="Learning rate")

    def _still_going(self, title: str) -> bool:
        """A form submitted after the run ended changes nothing, and says so."""
        if self.check_action("learning_rate", ()):  # the settings forms apply exactly while the run can change
            return True
        self.notify("The run is no longer going: nothing changed", title=title, severity="warning")
        return False
