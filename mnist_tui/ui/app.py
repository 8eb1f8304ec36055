"""The live training screen.

``MnistApp`` composes the widgets, runs the event source in one thread worker, routes each event to the
widgets that show it, and sends the user's commands to the run through a ``RunControl``. Device statistics
are read in a second thread worker about once a second. torch is not imported here: the real event source
imports the trainer inside the worker, so the first frame appears at once and shows the loading progress.

    from mnist_tui.config import TrainConfig
    from mnist_tui.ui.launch import run_app
    run_app(TrainConfig(max_steps=300))
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable
from enum import Enum
from functools import singledispatchmethod
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from ..engine import events as ev
from ..engine.control import Control, RunControl
from ..runs.devstats import DeviceStats, read_device_stats
from . import format as fmt
from .commands import COMMANDS
from .messages import DeviceStatsRead, EngineEvent
from .screens import EarlyStoppingForm, HelpScreen, LearningRateScreen, QuitScreen
from .screens.errors import ErrorsScreen
from .screens.quit import DETACH as QUIT_DETACH
from .screens.quit import STOP as QUIT_STOP
from .widgets import AccuracyChart, DevicePanel, LossChart, PredictionStrip, RunLog, StatusPanel, TrainDigits
from .widgets.early_stopping import EarlyStoppingPanel, describe_changes

EventSource = Callable[[RunControl], Iterable[ev.Event]]  # called with the app's control
StatsReader = Callable[[str], DeviceStats]
Clock = Callable[[], float]


class AppMode(str, Enum):
    """What the app is to the run it shows: where the run trains decides what quitting does and what keys do."""

    __str__ = str.__str__

    TRAIN = "train"  # the run trains in this process: quitting stops it (it saves first)
    TRAIN_DETACHABLE = "train-detachable"  # ... and quitting may hand it to a background process instead
    VIEW = "view"  # attached to a run another process trains: every key works, quitting leaves the run going
    HISTORY = "history"  # read-only: a run that has ended, or its metrics file followed; quitting just leaves


class MnistApp(App[None]):
    """Shows one run as it happens and steers it."""

    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-normal"), (170, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (34, "-medium"), (50, "-tall")]

    BINDINGS: ClassVar[list[Binding]] = [command.binding for command in COMMANDS]

    run_state: reactive[str] = reactive(ev.RunState.STARTING, bindings=True, init=False)
    digits_view: reactive[str] = reactive("train", bindings=True, init=False)  # "train" | "predictions"

    def __init__(
        self,
        event_source: EventSource,
        *,
        control: RunControl | None = None,
        stats_reader: StatsReader | None = None,
        run_dir: str | None = None,
        stats_interval: float = 1.0,
        clock: Clock = time.monotonic,
        mode: AppMode = AppMode.TRAIN,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.detaching = False  # the user chose to detach: exit once the trainer has handed over
        self.banner: str | None = None  # a first line for the run log (a viewer says what it shows)
        self.handed_over: ev.RunDetached | None = None  # the trainer saved the run for a background process
        self.event_source = event_source
        self.trainer_finished = threading.Event()  # set when the training worker has returned
        self.control: RunControl = control or Control()  # a viewer's is a runs.client.RemoteRun
        self.stats_reader: StatsReader = stats_reader or read_device_stats
        self.stats_interval = stats_interval
        self.clock = clock  # only for the "starting/loading for N s" counter; tests pin it
        self._started_at = 0.0
        self._waiting_timer: Timer | None = None
        self.run_dir = run_dir
        self.run_started: ev.RunStarted | None = None
        self.finished: ev.RunFinished | None = None
        self.error_snapshot: ev.EvaluationSnapshot | None = None  # what the latest evaluation got wrong
        self.iteration = 0
        self.quitting = False  # the user asked to quit: exit once the trainer worker is done
        self.trainer_done = False
        self.screenshots: list[str] = []
        self._batch_size: int | None = None
        self._run_summary = ""
        self._user_chose_digits = False
        self._checkpoint_requested = False
        self._stats_stop = threading.Event()
        self._stats_worker: Worker | None = None
        self._trainer_worker: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # Layout ----------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The app keeps its widgets: a modal screen on top must not hide them from the routing below.
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
        self._loop = asyncio.get_running_loop()
        self._started_at = self.clock()
        self._set_state(ev.RunState.STARTING, "starting: importing PyTorch and the trainer…")
        self._tick_waiting()
        self._waiting_timer = self.set_interval(1.0, self._tick_waiting)
        if self.banner:
            self.run_log.add(self.banner)
        self._trainer_worker = self.run_worker(
            self._train, thread=True, name="trainer", group="trainer", exit_on_error=False
        )

    def on_unmount(self) -> None:
        # However the app ends, let the trainer finish cleanly (it saves and writes its summary) and stop
        # reading device statistics, so no worker thread outlives the app.
        self._stats_stop.set()
        if self.viewer:
            self.control.close()  # hang up; the run goes on
        elif not self.trainer_done:
            self.control.stop(ev.Reason.INTERRUPTED)

    def _tick_waiting(self) -> None:
        """While torch and the data load, count the seconds so the screen visibly lives."""
        if self.run_started is None and self.finished is None:
            self.status.set_waited(self.clock() - self._started_at)
        elif self._waiting_timer is not None:
            self._waiting_timer.stop()

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_bindings)  # d applies only while one digit panel shows at a time

    # Workers (threads) -----------------------------------------------------------------------------------
    def _train(self) -> None:
        """The training worker: iterate the event source and post every event to the app, in order."""
        finished = False
        try:
            for event in self.event_source(self.control):
                finished = finished or isinstance(event, (ev.RunFinished, ev.RunDetached))
                self.post_message(EngineEvent(event))
        except Exception as exc:  # noqa: BLE001 - a crash shows as a failed run, never kills the app
            message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.post_message(EngineEvent(ev.RunFinished.failure(message)))
            finished = True
        if not finished:
            self.post_message(EngineEvent(ev.RunFinished.failure("the trainer ended without reporting a result")))
        self.trainer_finished.set()

    def _poll_stats(self, device: str) -> None:
        """The stats worker: read device statistics about once a second, off the UI thread."""
        while True:
            try:
                stats = self.stats_reader(device)
            except Exception:  # noqa: BLE001 - a reader that fails shows N/A everywhere
                stats = DeviceStats()
            self.post_message(DeviceStatsRead(device, stats))
            if self._stats_stop.wait(self.stats_interval):
                return

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._trainer_worker or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            return
        self.trainer_done = True
        if not self.is_running:
            return
        if event.state == WorkerState.ERROR and self.finished is None:
            self._route(ev.RunFinished.failure(f"trainer worker failed: {event.worker.error}"))
        self.refresh_bindings()
        if self.quitting:
            self.exit(return_code=self.exit_code)

    # Routing: each engine event to the widgets that show it -------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        if self.is_running:  # events still queued while the app shuts down are dropped
            self._route(message.event)

    def on_device_stats_read(self, message: DeviceStatsRead) -> None:
        if self.is_running:
            self.device_panel.set_stats(message.stats)

    @singledispatchmethod
    def _route(self, event: ev.Event) -> None:
        """Events this screen does not show are ignored."""

    @_route.register
    def _(self, event: ev.StateChanged) -> None:
        if self.finished is not None:
            return
        if self.quitting and event.state in (ev.RunState.RUNNING, ev.RunState.PAUSED):
            return  # keep showing "stopping" until the trainer winds down
        message = self._run_summary if event.state == ev.RunState.RUNNING and self._run_summary else event.message
        self._set_state(event.state, message)

    @_route.register
    def _(self, event: ev.Log) -> None:
        self.run_log.add(event.message, event.level)
        if self.run_started is None:
            self.status.set_message(event.message)
        if event.level in ("warning", "error"):
            self.notify(event.message, severity="warning" if event.level == "warning" else "error")

    @_route.register
    def _(self, event: ev.RunStarted) -> None:
        self.run_started = event
        self.run_dir = event.run_dir
        self._batch_size = int(event.config.get("batch_size") or 0) or None
        self.iteration = event.start_iteration
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
        self._run_summary = (
            f"{event.dataset} from {event.data_source} · {event.train_size:,} train / {event.test_size:,} test"
            f" · {event.model_parameters:,} parameters · {event.run_dir}"
        )
        log = self.run_log
        log.add(f"run directory: {event.run_dir}")
        if event.start_iteration:
            log.add(f"resuming at iteration {event.start_iteration:,}")
        self.body.remove_class("-loading")
        self._start_stats(event.device)

    @_route.register
    def _(self, event: ev.Previews) -> None:
        names = self.run_started.class_names if self.run_started else ()
        self.train_digits.set_images(event.train_images, event.train_labels, names, note=event.train_note)
        if event.test_images:  # a preview of augmented training digits leaves the test strip as it is
            self.predictions.set_images(event.test_images, event.test_labels, names)
        self.refresh_bindings()  # d now applies

    @_route.register
    def _(self, event: ev.StepMetrics) -> None:
        self.iteration = event.iteration
        self.loss_chart.add_losses(event.iteration, event.losses)
        status = self.status
        status.set_position(event.iteration, event.epoch)
        status.set_elapsed(event.elapsed)
        total = self.run_started.total_steps if self.run_started else None
        self.device_panel.set_throughput(
            event.images_per_second, None if total is None else total - event.iteration, self._batch_size
        )
        self.early_stopping_panel.set_lr(event.lr)

    @_route.register
    def _(self, event: ev.Evaluation) -> None:
        self.loss_chart.add_test_loss(event.iteration, event.test_loss)
        self.accuracy_chart.add_evaluation(
            event.iteration, event.test_accuracy, event.best_accuracy, event.best_iteration
        )
        self.status.set_accuracy(event.test_accuracy, event.best_accuracy, event.best_iteration)
        if event.preview_predictions:
            self.predictions.set_predictions(event.preview_predictions, event.iteration)
            if not self._user_chose_digits:
                self.digits_view = "predictions"

    @_route.register
    def _(self, event: ev.EvaluationSnapshot) -> None:
        first = self.error_snapshot is None
        self.error_snapshot = event
        if isinstance(self.screen, ErrorsScreen):
            self.screen.offer(event)
        if first:
            self.refresh_bindings()  # m now applies

    @_route.register
    def _(self, event: ev.CheckpointSaved) -> None:
        self.run_log.add(f"saved {event.tag} checkpoint at iteration {event.iteration:,}: {event.path}")
        if self._checkpoint_requested and event.tag == "last":
            self._checkpoint_requested = False
            self.notify(f"Checkpoint saved at iteration {event.iteration:,}", title="Saved")

    @_route.register
    def _(self, event: ev.EarlyStoppingState) -> None:
        self.early_stopping_panel.set_state(event)

    @_route.register
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

    @_route.register
    def _(self, event: ev.RunDetached) -> None:
        if self.detaching:
            self.handed_over = event
            self._set_state(ev.RunState.STOPPING, f"handed over at iteration {event.iteration:,}: starting the background run…")
        else:  # an earlier process of this run handed it over (seen when attached)
            self.run_log.add(f"handed over to a background process at iteration {event.iteration:,}")

    @_route.register
    def _(self, event: ev.RunFinished) -> None:
        self.finished = event
        if isinstance(self.screen, ErrorsScreen):
            self.screen.end_of_run()
        self.early_stopping_panel.set_finished(event.reason, event.stopped_early_at, event.weights)
        status = self.status
        if event.iteration >= 0:
            self.iteration = event.iteration
            status.set_position(event.iteration, event.epoch)
        if event.elapsed >= 0:
            status.set_elapsed(event.elapsed)
        if event.best_accuracy is not None:
            status.set_accuracy(event.final_accuracy, event.best_accuracy, event.best_iteration)
        self.device_panel.set_throughput(None, 0, self._batch_size)
        state = event.state
        log = self.run_log
        if state == ev.RunState.FAILED:
            log.add(event.message, "error")
            self.body.add_class("-failed")
            self.notify(event.message, title="The run failed", severity="error", timeout=30)
            message = f"{event.reason}: {event.message}"
        else:
            log.add(f"run ended ({event.reason}): {event.message}")
            best = f" · best {100 * event.best_accuracy:.2f}%" if event.best_accuracy is not None else ""
            weights = getattr(event, "weights", "last")
            kept = f" · weights: {weights}" if weights and weights != "last" else ""
            where = f" · {self.run_dir}" if self.run_dir else ""
            message = f"{event.message}{best}{kept}{where} · q quits"
            if not self.quitting:
                self.notify(event.message, title="Run finished" if state == ev.RunState.FINISHED else "Early stop")
        self._set_state(state, message)

    # State ---------------------------------------------------------------------------------------------
    def _set_state(self, state: str, message: str | None = None) -> None:
        self.run_state = state
        self.status.set_state(state, message)
        self.early_stopping_panel.show_keys(self.check_action("early_stopping", ()) is True)

    @property
    def viewer(self) -> bool:
        """The run trains in another process, or has ended: the app leaves it as it is."""
        return self.mode in (AppMode.VIEW, AppMode.HISTORY)

    @property
    def run_active(self) -> bool:
        return self.finished is None and not self.trainer_done

    @property
    def exit_code(self) -> int:
        return 1 if self.run_state == ev.RunState.FAILED else 0

    def watch_digits_view(self, view: str) -> None:
        digits = self.digits
        digits.set_class(view == "train", "-show-train")
        digits.set_class(view == "predictions", "-show-predictions")

    def _start_stats(self, device: str) -> None:
        if self._stats_worker is None:
            self._stats_worker = self.run_worker(
                lambda: self._poll_stats(device), thread=True, name="device-stats", group="stats", exit_on_error=False
            )

    # Actions -------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only keys that apply now are live and shown in the footer."""
        state = self.run_state
        can_command = self.run_active and not self.control.stop_requested and self.mode is not AppMode.HISTORY
        if action == "pause":
            return can_command and state == ev.RunState.RUNNING
        if action == "resume":
            return can_command and state == ev.RunState.PAUSED
        if action == "stop":
            return can_command and state in (ev.RunState.STARTING, ev.RunState.LOADING, ev.RunState.RUNNING, ev.RunState.PAUSED)
        if action in ("checkpoint", "early_stopping", "learning_rate"):
            return can_command and state in (ev.RunState.RUNNING, ev.RunState.PAUSED)
        if action == "errors":
            return self.error_snapshot is not None
        if action == "toggle_digits":
            return bool(self.train_digits.images) and not self.screen.has_class("-wide")
        return True

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

    def action_toggle_digits(self) -> None:
        self._user_chose_digits = True
        self.digits_view = "predictions" if self.digits_view == "train" else "train"

    def action_early_stopping(self) -> None:
        if not isinstance(self.screen, EarlyStoppingForm):
            self.push_screen(EarlyStoppingForm(self.early_stopping_panel.current_settings()))

    def on_early_stopping_form_submitted(self, message: EarlyStoppingForm.Submitted) -> None:
        if not self.check_action("early_stopping", ()):
            self.notify("The run is no longer going: nothing changed", title="Early stopping", severity="warning")
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
        if not self.check_action("learning_rate", ()):
            self.notify("The run is no longer going: nothing changed", title="Learning rate", severity="warning")
            return
        if message.lr is not None:
            self.control.set_lr(message.lr)
            change = fmt.learning_rate(message.lr)
        else:
            self.control.scale_lr(message.factor or 1.0)
            change = f"×{message.factor:g}"
        self.early_stopping_panel.set_pending_lr(change)
        self.notify(f"lr {change}: applies from the next step", title="Learning rate")

    def action_errors(self) -> None:
        if self.error_snapshot is not None and not isinstance(self.screen, ErrorsScreen):
            self.push_screen(ErrorsScreen(self.error_snapshot, run_dir=self.run_dir, live=self.run_active))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.run_dir))

    def action_screenshot(self) -> None:
        directory = self.run_dir or os.getcwd()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"screenshot-{stamp}.svg"
        n = 2
        while os.path.exists(os.path.join(directory, name)):
            name, n = f"screenshot-{stamp}-{n}.svg", n + 1
        try:
            os.makedirs(directory, exist_ok=True)
            path = self.save_screenshot(filename=name, path=directory)
        except OSError as exc:
            self.notify(f"Could not save the screenshot: {exc}", severity="error")
            return
        self.screenshots.append(path)
        self.notify(path, title="Screenshot saved")

    async def action_quit(self) -> None:
        """q, ctrl+q and the palette: quit at once when no run is active, else ask and stop cleanly first."""
        if not self.run_active or self.viewer:  # a viewer leaves; the run goes on in its own process
            self.exit(return_code=0 if self.viewer else self.exit_code)
        elif self.quitting:
            self.notify("Waiting for the run to save before quitting…", title="Quitting")
        else:
            self.push_screen(QuitScreen(can_detach=self.mode is AppMode.TRAIN_DETACHABLE), self._quit_answered)

    def _quit_answered(self, answer: str | None) -> None:
        if answer == QUIT_STOP:
            self.shutdown_gracefully()
        elif answer == QUIT_DETACH:
            self.detach()

    def detach(self) -> None:
        """Hand the run over to a background process: it saves here and goes on there (see run_app)."""
        if self.mode is not AppMode.TRAIN_DETACHABLE or not self.run_active or self.quitting:
            return
        self.detaching = self.quitting = True
        self._stop_run("detaching: saving the run for a background process…", ev.Reason.DETACHED)

    def shutdown_gracefully(self, reason: str = ev.Reason.STOPPED) -> None:
        """Stop the run (it evaluates and saves), then exit once the trainer worker is done (a viewer just exits)."""
        if self.viewer:
            self.exit(return_code=0)
            return
        self.quitting = True
        if not self.run_active:
            self.exit(return_code=self.exit_code)
            return
        self._stop_run("stopping: saving the run before quitting…", reason)

    def request_shutdown_threadsafe(self) -> None:
        """From a signal handler or another thread: the same as confirming quit."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.shutdown_gracefully, ev.Reason.INTERRUPTED)

    def _stop_run(self, message: str, reason: str = ev.Reason.STOPPED) -> None:
        self.control.stop(reason)
        if self.finished is None:
            self._set_state(ev.RunState.STOPPING, message)
        self.refresh_bindings()

    # Command palette: the same actions, by name -------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in COMMANDS:
            if self.check_action(command.action, ()):
                action = getattr(self, f"action_{command.action}")
                yield SystemCommand(command.palette_title, command.palette_help, action)
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Screenshot"):
                yield command
