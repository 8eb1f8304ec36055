"""Steering the run from the keyboard: pause, resume, stop, save now, and the early-stopping and learning-rate
forms. A mixin of ``MnistApp`` (app.py): each action sends one command through the app's ``RunControl`` and
says on screen that it was taken; the run's events then show when it applied.
"""

from __future__ import annotations

from textual.app import App

from ..engine import events as ev
from ..engine.control import RunControl
from . import format as fmt
from .screens import EarlyStoppingForm, LearningRateScreen
from .widgets.early_stopping import describe_changes


class RunSteering(App[None]):
    """The actions that change the run (``check_action`` in app.py says when each applies). The app provides
    the ``control`` they send to, the ``run_state``, the training screen's ``status`` and
    ``early_stopping_panel``, and ``_stop_run`` (lifecycle.py)."""

    control: RunControl
    run_state: str

    _checkpoint_requested = False  # say "saved" when the checkpoint the user asked for is written

    def action_pause(self) -> None:
        self.control.toggle_pause()
        self.status.set_message("pausing after this step…" if self.control.paused else "resuming…")

    def action_resume(self) -> None:
        self.control.toggle_pause()
        self.status.set_message("resuming…" if not self.control.paused else "pausing…")

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

    def action_early_stopping(self) -> None:
        if not isinstance(self.screen, EarlyStoppingForm):
            self.push_screen(EarlyStoppingForm(self.early_stopping_panel.current_settings()))

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
        if not isinstance(self.screen, LearningRateScreen):
            panel = self.early_stopping_panel
            self.push_screen(LearningRateScreen(panel.lr, panel.pending_lr))

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
