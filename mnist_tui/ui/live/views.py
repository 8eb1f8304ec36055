"""Looking at the run: the panels' views (enlarge one, the loss chart's scale and window, the accuracy chart's
zoom, which digits show, how often the screen updates) and the screens opened over the training screen (help,
error browser, canvas) and the screenshot. A mixin of ``MnistApp`` (app.py); none of these changes the run
(steering.py's actions do).
"""

from __future__ import annotations

import os

from textual.app import App
from textual.widget import Widget

from ...engine import events as ev
from ...engine.control import Control, RunControl
from ..common.inference import LiveWeights, RunWeights, WeightsSource
from ..common.refresh import CHART_PERIODS, next_rate
from ..screens import HelpScreen, TrainingScreen
from ..screens.draw import DrawScreen
from ..screens.errors import ErrorsScreen
from ..common.screenshot import save_svg


class RunViews(App[None]):
    """The actions that change only what is shown (``check_action`` in app.py says when each applies). The app
    provides the ``training`` screen and its panels, the run's ``run_dir``, ``control``, ``run_started``,
    ``error_snapshot(s)``, ``run_active`` and ``viewer``, and ``open_screen`` (steering.py)."""

    training: TrainingScreen
    control: RunControl
    run_dir: str | None
    error_snapshots: dict[str, ev.EvaluationSnapshot]
    screenshots: list[str]  # the screenshots saved, in order

    @property
    def maximizable_panels(self) -> tuple[Widget, ...]:
        """The panels z (or the palette's "Maximize") can enlarge to the whole screen."""
        t = self.training
        return (t.loss_chart, t.accuracy_chart, t.train_digits, t.predictions, t.device_panel, t.early_stopping_panel)

    def action_maximize_panel(self) -> None:
        """Enlarge the focused panel (the loss chart when none is) to the whole screen, or put it back."""
        screen = self.training
        if screen.maximized is not None:
            screen.minimize()
            return
        focused = screen.focused if screen.focused in self.maximizable_panels else None
        panel = focused or self.loss_chart
        if not panel.display:
            panel = self.loss_chart
        screen.set_focus(panel)
        screen.maximize(panel, container=False)

    def action_loss_scale(self) -> None:
        self.loss_chart.toggle_scale()

    def action_loss_window(self) -> None:
        self.loss_chart.toggle_window()

    def action_accuracy_zoom(self) -> None:
        self.accuracy_chart.toggle_zoom()

    def action_toggle_digits(self) -> None:
        self.training.toggle_digits()

    def action_refresh_rate(self) -> None:
        """Step through the refresh rates (refresh.py): slower for a slow link, and back."""
        seconds = next_rate(self.training.refresh_seconds)
        self.training.set_refresh(seconds)
        charts = seconds * CHART_PERIODS
        self.notify(f"Numbers update every {seconds:g} s, the charts every {charts:g} s", title="Refresh rate")

    def action_errors(self) -> None:
        if self.error_snapshot is not None:
            self.open_screen(ErrorsScreen, self._errors_screen, "the error browser")

    def _errors_screen(self) -> ErrorsScreen:
        shown = self.error_snapshot
        screen = ErrorsScreen(shown, run_dir=self.run_dir, live=self.run_active, weights=self.weights_source())
        screen.other = self.error_snapshots.get(ev.VALIDATION if shown.split == ev.TEST else ev.TEST)
        return screen

    def action_draw(self) -> None:
        source = self.weights_source()
        if source is not None:
            names = self.run_started.class_names if self.run_started is not None else ()
            self.open_screen(
                DrawScreen, lambda: DrawScreen(source, names) if names else DrawScreen(source), "the canvas"
            )

    def weights_source(self) -> WeightsSource | None:
        """Where a canvas or the error browser gets weights: the trainer's copies of its latest evaluated weights
        while this process trains (after the first evaluation), the weights a run ended with once it has, and
        none for a viewer of a run another process trains."""
        if self.run_active:
            in_process = isinstance(self.control, Control) and not self.viewer
            ready = in_process and self.error_snapshot is not None  # after the first evaluation
            return LiveWeights(self.control.latest_weights, self.run_dir) if ready else None
        from ...runs.rundir import RunDirectory

        return RunWeights(self.run_dir) if self.run_dir and RunDirectory(self.run_dir).has_weights() else None

    def action_help(self) -> None:
        self.open_screen(HelpScreen, lambda: HelpScreen(self.run_dir), "the help")

    def action_screenshot(self) -> None:
        try:
            path = save_svg(self, self.run_dir or os.getcwd())
        except OSError as exc:
            self.notify(f"Could not save the screenshot: {exc}", severity="error")
            return
        self.screenshots.append(path)
        self.notify(path, title="Screenshot saved")
