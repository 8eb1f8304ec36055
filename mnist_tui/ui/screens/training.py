"""The live training screen: the widgets of one run, and what each engine event changes on them.

The app owns the run (its state, the workers, the commands) and hands each engine event to ``show``, which
routes it to the widgets that show it; the app sets the rest through the methods under "What the app sets"
(attributes down). Widgets never call each other. The screen keeps its widgets as attributes, so events
still reach them while a modal screen is on top.

How often the screen changes is the refresh rate's (common/refresh.py): every loss goes into the loss chart as it
arrives, but the numbers a ``StepMetrics`` moves (position, elapsed, speed, lr) and the device readings are
shown at most once per refresh interval, the latest of them; any other event shows them first, so a state
change never shows stale numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import singledispatchmethod

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from ...engine import events as ev
from ...runs.devstats import DeviceStats
from ...runs.throughput import Throughput
from ..common import format as fmt
from ..common.refresh import CHART_PERIODS, DEFAULT_REFRESH, Throttle, describe
from ..widgets import AccuracyChart, DevicePanel, LossChart, PredictionStrip, RunLog, StatusPanel, TrainDigits
from ..widgets.early_stopping import EarlyStoppingPanel, describe_changes, has_validation


class TrainingScreen(Screen[None]):
    """Shows one run as it happens: status, charts, log, digits, device and early stopping."""

    digits_view: reactive[str] = reactive("train", bindings=True, init=False)  # "train" | "predictions"

    class Ready(Message):
        """The screen is composed and mounted: the app may start the run."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock  # for the seconds spent starting and loading; tests pin it
        self.run: ev.RunStarted | None = None  # the run shown, once it has started
        self.ended = False  # the run has ended (it may end before it started)
        self.user_chose_digits = False  # d was pressed: evaluations no longer switch the digit panel
        self._summary = ""  # the status line's message while the run trains
        self._batch_size: int | None = None
        self._started_at = 0.0
        self._waiting_timer: Timer | None = None
        self.refresh_seconds = DEFAULT_REFRESH
        self._step: ev.StepMetrics | None = None  # the latest step metrics, not yet shown
        self._stats: DeviceStats | None = None  # the latest device reading, not yet shown
        self._numbers = Throttle(self, self._show_numbers)
        self.throughput = Throughput()  # the speed and time left the device panel shows, steadied

    def compose(self) -> ComposeResult:
        self.status = StatusPanel(id="status")
        self.loss_chart = LossChart(id="loss-chart")
        self.accuracy_chart = AccuracyChart(id="accuracy-chart")
        self.run_log = RunLog(id="run-log")
        self.train_digits = TrainDigits(id="train-digits")
        self.predictions = PredictionStrip(id="predictions")
        self.device_panel = DevicePanel(id="device")
        self.early_stopping_panel = EarlyStoppingPanel(id="early-stopping")
        self.body = Vertical(id="body", classes="-loading")
        self.digits = Horizontal(id="digits", classes="-show-train")
        yield self.status
        with self.body:
            with Horizontal(id="charts"):
                yield self.loss_chart
                yield self.accuracy_chart
            yield self.run_log
            with Horizontal(id="bottom"):
                with self.digits:
                    yield self.train_digits
                    yield self.predictions
                with Vertical(id="side"):
                    yield self.device_panel
                    yield self.early_stopping_panel
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_refresh(self.refresh_seconds)
        self._started_at = self.clock()
        self.tick_waiting()
        self._waiting_timer = self.set_interval(1.0, self.tick_waiting)
        self.post_message(self.Ready())

    def tick_waiting(self) -> None:
        """Each second while torch and the data load: count the seconds, so the screen visibly lives."""
        if self.run is None and not self.ended:
            self.status.set_waited(self.clock() - self._started_at)
        elif self._waiting_timer is not None:
            self._waiting_timer.stop()

    # What the app sets -----------------------------------------------------------------------------------
    def set_refresh(self, seconds: float) -> None:
        """Update the numbers at most every ``seconds``, the charts every ``CHART_PERIODS`` times that; the status
        line says so when it is not the default."""
        self.refresh_seconds = seconds
        self._numbers.interval = seconds
        for chart in (self.loss_chart, self.accuracy_chart):
            chart.set_redraw_interval(seconds * CHART_PERIODS)
        self.status.set_refresh(describe(seconds))

    def set_stats(self, stats: DeviceStats) -> None:
        """A device reading (about once a second): shown with the next numbers."""
        self._stats = stats
        self._numbers.request()

    def _show_numbers(self) -> None:
        step, self._step = self._step, None
        stats, self._stats = self._stats, None
        if stats is not None:
            self.device_panel.set_stats(stats)
        if step is not None:
            self.status.set_position(step.iteration, step.epoch)
            self.status.set_elapsed(step.elapsed)
            left = self.run.total_steps - step.iteration if self.run else None
            speed, eta = self.throughput.speed(self._batch_size), self.throughput.eta(left, self._batch_size)
            self.device_panel.set_throughput(speed, left, self._batch_size, eta_seconds=eta)
            self.early_stopping_panel.set_lr(step.lr)

    def set_state(self, state: str, message: str | None, *, settings_keys: bool) -> None:
        """The run's state in the status line (the run's summary while it trains); ``settings_keys``: e and l
        apply now, and the early-stopping panel says so."""
        self._numbers.flush()
        if state == ev.RunState.RUNNING and self._summary:
            message = self._summary
        self.status.set_state(state, message)
        self.early_stopping_panel.show_keys(settings_keys)

    def toggle_digits(self) -> None:
        self.user_chose_digits = True
        self.digits_view = "predictions" if self.digits_view == "train" else "train"

    def watch_digits_view(self, view: str) -> None:
        self.digits.set_class(view == "train", "-show-train")
        self.digits.set_class(view == "predictions", "-show-predictions")

    def finish(self, event: ev.RunFinished, run_dir: str | None, *, quiet: bool) -> str:
        """Show how the run ended; returns the status line's message. ``quiet``: no toast (the app is quitting)."""
        self._numbers.flush()
        self.ended = True
        self.early_stopping_panel.set_finished(event.reason, event.stopped_early_at, event.weights)
        if event.iteration >= 0:
            self.status.set_position(event.iteration, event.epoch)
        if event.elapsed >= 0:
            self.status.set_elapsed(event.elapsed)
        if event.final_accuracy is not None:
            self.status.set_accuracy(ev.TEST, event.final_accuracy, event.best_accuracy, event.best_iteration)
        self.device_panel.set_throughput(None, 0, self._batch_size)
        self.device_panel.set_ended(event.reason)
        if event.state == ev.RunState.FAILED:
            self.run_log.add(event.message, "error")
            self.body.add_class("-failed")
            self.notify(event.message, title="The run failed", severity="error", timeout=30)
            return f"{event.reason}: {event.message}"
        self.run_log.add(f"run ended ({event.reason}): {event.message}")
        best = f" · best val {100 * event.best_accuracy:.2f}%" if event.best_accuracy is not None else ""
        if event.final_accuracy is not None:
            best += f" · test {100 * event.final_accuracy:.2f}%"
        weights = getattr(event, "weights", "last")
        kept = f" · weights: {weights}" if weights and weights != "last" else ""
        where = f" · {run_dir}" if run_dir else ""
        if not quiet:
            self.notify(event.message, title="Run finished" if event.state == ev.RunState.FINISHED else "Early stop")
        return f"{event.message}{best}{kept}{where} · q quits"

    # Routing: each engine event to the widgets that show it -------------------------------------------
    def show(self, event: ev.Event) -> None:
        """Show ``event``; the numbers of steps not yet shown come first, except when it is one more step."""
        if not isinstance(event, ev.StepMetrics):
            self._numbers.flush()
        self._show(event)

    @singledispatchmethod
    def _show(self, event: ev.Event) -> None:
        """Events this screen does not show are ignored."""

    @_show.register
    def _(self, event: ev.Log) -> None:
        self.run_log.add(event.message, event.level)
        if self.run is None:
            self.status.set_message(event.message)
        if event.level in ("warning", "error"):
            self.notify(event.message, severity="warning" if event.level == "warning" else "error")

    @_show.register
    def _(self, event: ev.RunStarted) -> None:
        self.run = event
        self._batch_size = int(event.config.get("batch_size") or 0) or None
        self.throughput.reset()
        shape = {
            "steps_per_epoch": event.steps_per_epoch,
            "total_steps": event.total_steps,
            "start_iteration": event.start_iteration,
        }
        self.status.set_run(**shape)
        self.loss_chart.set_run(**shape)
        self.accuracy_chart.set_run(**shape)
        self.device_panel.set_device(event.device, event.device_name, event.torch_version, event.cuda_version)
        self.train_digits.set_class_names(event.class_names)
        self.predictions.set_class_names(event.class_names)
        self.early_stopping_panel.set_run_config(event.config)
        self.loss_chart.set_validation(has_validation(event.config))
        self._summary = (
            f"{event.dataset} from {event.data_source} · {event.train_size:,} train / {event.test_size:,} test"
            f" · {event.model_parameters:,} parameters · {event.run_dir}"
        )
        self.run_log.add(f"run directory: {event.run_dir}")
        if event.start_iteration:
            self.run_log.add(f"resuming at iteration {event.start_iteration:,}")
        self.body.remove_class("-loading")

    @_show.register
    def _(self, event: ev.Previews) -> None:
        names = self.run.class_names if self.run else ()
        self.train_digits.set_images(event.train_images, event.train_labels, names, note=event.train_note)
        if event.test_images:  # a preview of augmented training digits leaves the test strip as it is
            self.predictions.set_images(event.test_images, event.test_labels, names)

    @_show.register
    def _(self, event: ev.StepMetrics) -> None:
        self.loss_chart.add_losses(event.iteration, event.losses)  # every loss; the chart redraws on its timer
        self.throughput.step(event.iteration, event.elapsed, event.images_per_second)
        self._step = event
        self._numbers.request()

    @_show.register
    def _(self, event: ev.Evaluation) -> None:
        self.throughput.evaluated(event.seconds)
        self.loss_chart.add_eval_loss(event.split, event.iteration, event.loss)
        self.accuracy_chart.add_evaluation(
            event.split, event.iteration, event.accuracy, event.best_accuracy, event.best_iteration
        )
        self.status.set_accuracy(event.split, event.accuracy, event.best_accuracy, event.best_iteration)
        if event.preview_predictions:
            self.predictions.set_predictions(event.preview_predictions, event.iteration)
            if not self.user_chose_digits:
                self.digits_view = "predictions"

    @_show.register
    def _(self, event: ev.CheckpointSaved) -> None:
        self.run_log.add(f"saved {event.tag} checkpoint at iteration {event.iteration:,}: {event.path}")

    @_show.register
    def _(self, event: ev.EarlyStoppingState) -> None:
        self.early_stopping_panel.set_state(event)

    @_show.register
    def _(self, event: ev.SettingsChanged) -> None:
        panel = self.early_stopping_panel
        before = panel.settings
        panel.set_settings(event.changes, event.source, event.iteration)
        at = f"at iteration {event.iteration:,}"
        if "lr" in event.changes:
            lr = fmt.learning_rate(event.changes["lr"])
            by = "the plateau schedule" if event.source == "plateau" else "you"
            self.run_log.add(f"learning rate set to {lr} by {by} {at}")
            if event.source == "plateau":
                self.notify(f"lr cut to {lr} by plateau {at}", title="Learning rate")
        if "early_stopping" in event.changes and panel.settings is not None:
            self.run_log.add(f"early stopping: {describe_changes(before, panel.settings)}, applied {at}")

    @_show.register
    def _(self, event: ev.RunDetached) -> None:  # an earlier process of this run handed it over (seen when attached)
        self.run_log.add(f"handed over to a background process at iteration {event.iteration:,}")
