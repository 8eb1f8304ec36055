"""The live app: one run, shown on the training screen as it happens, and steered from the keyboard.

``MnistApp`` runs the event source in a thread worker (workers.py) and hands each event to the
``TrainingScreen`` (screens/training.py), which shows it. The app keeps the run's state, takes the user's
commands (keys and the command palette) and sends them to the run through a ``RunControl``. torch is not
imported here: the real event source imports the trainer inside the worker, so the first frame appears at once.

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
from functools import partial, singledispatchmethod
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ..engine import events as ev
from ..engine.control import Control, RunControl
from ..runs.devstats import read_device_stats
from . import format as fmt
from .commands import COMMANDS
from .messages import DeviceStatsRead, EngineEvent
from .mode import AppMode
from .screens import EarlyStoppingForm, HelpScreen, LearningRateScreen, QuitScreen, TrainingScreen
from .screens.errors import ErrorsScreen
from .inference import LiveWeights, RunWeights, WeightsSource
from .screens.draw import DrawScreen
from .screens.quit import DETACH as QUIT_DETACH
from .screens.quit import STOP as QUIT_STOP
from .widgets import AccuracyChart, DevicePanel, LossChart, PredictionStrip, RunLog, StatusPanel, TrainDigits
from .widgets.early_stopping import EarlyStoppingPanel, describe_changes
from .workers import EventSource, StatsReader, poll_stats, run_source


def _on_training(name: str) -> Any:
    """A read-only attribute of the app that is the training screen's ``name``."""
    return property(lambda app: getattr(app.training, name))


class MnistApp(App[None]):
    """Shows one run as it happens and steers it."""

    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-normal"), (170, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (34, "-medium"), (50, "-tall")]
    BINDINGS: ClassVar[list[Binding]] = [command.binding for command in COMMANDS]

    run_state: reactive[str] = reactive(ev.RunState.STARTING, bindings=True, init=False)

    # What the training screen shows, read-only: for the actions here, and for tests.
    status: StatusPanel = _on_training("status")
    loss_chart: LossChart = _on_training("loss_chart")
    accuracy_chart: AccuracyChart = _on_training("accuracy_chart")
    run_log: RunLog = _on_training("run_log")
    train_digits: TrainDigits = _on_training("train_digits")
    predictions: PredictionStrip = _on_training("predictions")
    device_panel: DevicePanel = _on_training("device_panel")
    early_stopping_panel: EarlyStoppingPanel = _on_training("early_stopping_panel")
    body: Vertical = _on_training("body")
    digits: Horizontal = _on_training("digits")
    digits_view: str = _on_training("digits_view")  # "train" | "predictions"
    run_started: ev.RunStarted | None = _on_training("run")

    def __init__(
        self,
        event_source: EventSource,
        *,
        control: RunControl | None = None,
        stats_reader: StatsReader | None = None,
        run_dir: str | None = None,
        stats_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        mode: AppMode = AppMode.TRAIN,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.training = TrainingScreen(clock)  # the clock times the "starting/loading for N s" counter
        self.event_source = event_source
        self.control: RunControl = control or Control()  # a viewer's is a runs.client.RemoteRun
        self.stats_reader: StatsReader = stats_reader or read_device_stats
        self.stats_interval = stats_interval
        self.run_dir = run_dir
        self.banner: str | None = None  # a first line for the run log (a viewer says what it shows)
        self.finished: ev.RunFinished | None = None
        self.error_snapshots: dict[str, ev.EvaluationSnapshot] = {}  # what the latest evaluation of each set got wrong
        self.handed_over: ev.RunDetached | None = None  # the trainer saved the run for a background process
        self.quitting = False  # the user asked to quit: exit once the trainer worker is done
        self.detaching = False  # the user chose to detach: exit once the trainer has handed over
        self.trainer_done = False
        self.trainer_finished = threading.Event()  # set when the training worker has returned
        self.screenshots: list[str] = []
        self._checkpoint_requested = False
        self._stats_stop = threading.Event()
        self._stats_worker: Worker | None = None
        self._trainer_worker: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # Lifecycle -------------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return self.training

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()

    def on_training_screen_ready(self) -> None:
        """The screen is composed: say the run is starting, and start it (its events need the widgets)."""
        self._set_state(ev.RunState.STARTING, "starting: importing PyTorch and the trainer…")
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

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_bindings)  # d applies only while one digit panel shows at a time

    def _train(self) -> None:
        run_source(self.event_source, self.control, self.post_message)
        self.trainer_finished.set()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        done = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
        if event.worker is not self._trainer_worker or event.state not in done:
            return
        self.trainer_done = True
        if not self.is_running:
            return
        if event.state == WorkerState.ERROR and self.finished is None:
            self._route(ev.RunFinished.failure(f"trainer worker failed: {event.worker.error}"))
        self.refresh_bindings()
        if self.quitting:
            self.exit(return_code=self.exit_code)

    def _start_stats(self, device: str) -> None:
        if self._stats_worker is None:
            read = partial(poll_stats, self.stats_reader, device, self.stats_interval, self._stats_stop)
            self._stats_worker = self.run_worker(
                partial(read, self.post_message), thread=True, name="device-stats", group="stats", exit_on_error=False
            )

    def on_device_stats_read(self, message: DeviceStatsRead) -> None:
        if self.is_running:
            self.device_panel.set_stats(message.stats)

    # The run's state, from its events; the training screen shows them -------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        if self.is_running:  # events still queued while the app shuts down are dropped
            self._route(message.event)

    @singledispatchmethod
    def _route(self, event: ev.Event) -> None:
        self.training.show(event)

    @_route.register
    def _(self, event: ev.StateChanged) -> None:
        # Once the run has ended its state stays; while quitting, "stopping" stays until the trainer winds down.
        if self.finished is None and not (self.quitting and event.state in (ev.RunState.RUNNING, ev.RunState.PAUSED)):
            self._set_state(event.state, event.message)

    @_route.register
    def _(self, event: ev.RunStarted) -> None:
        self.run_dir = event.run_dir
        self.training.show(event)
        self._start_stats(event.device)

    @_route.register
    def _(self, event: ev.Previews) -> None:
        self.training.show(event)
        self.refresh_bindings()  # d now applies

    @_route.register
    def _(self, event: ev.EvaluationSnapshot) -> None:  # the error browser's, not the training screen's
        first = not self.error_snapshots
        self.error_snapshots[event.split] = event
        if isinstance(self.screen, ErrorsScreen):
            self.screen.offer(event)
        if first:
            self.refresh_bindings()  # m now applies

    @_route.register
    def _(self, event: ev.CheckpointSaved) -> None:
        self.training.show(event)
        if self._checkpoint_requested and event.tag == "last":
            self._checkpoint_requested = False
            self.notify(f"Checkpoint saved at iteration {event.iteration:,}", title="Saved")

    @_route.register
    def _(self, event: ev.RunDetached) -> None:
        if not self.detaching:  # an earlier process of this run handed it over (seen when attached)
            self.training.show(event)
            return
        self.handed_over = event
        message = f"handed over at iteration {event.iteration:,}: starting the background run…"
        self._set_state(ev.RunState.STOPPING, message)

    @_route.register
    def _(self, event: ev.RunFinished) -> None:
        self.finished = event
        if isinstance(self.screen, ErrorsScreen):
            self.screen.end_of_run()
        self._set_state(event.state, self.training.finish(event, self.run_dir, quiet=self.quitting))

    def _set_state(self, state: str, message: str | None = None) -> None:
        self.run_state = state
        self.training.set_state(state, message, settings_keys=self.check_action("early_stopping", ()) is True)

    @property
    def error_snapshot(self) -> ev.EvaluationSnapshot | None:
        """What the error browser opens on: the test set's latest mistakes, else the validation set's."""
        return self.error_snapshots.get(ev.TEST) or self.error_snapshots.get(ev.VALIDATION)

    @property
    def iteration(self) -> int:
        """The latest iteration the run reported."""
        return self.status.iteration

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
        if action == "draw":
            return self.weights_source() is not None
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
        self.training.toggle_digits()

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
        shown = self.error_snapshot
        if shown is not None and not isinstance(self.screen, ErrorsScreen):
            screen = ErrorsScreen(shown, run_dir=self.run_dir, live=self.run_active, weights=self.weights_source())
            screen.other = self.error_snapshots.get(ev.VALIDATION if shown.split == ev.TEST else ev.TEST)
            self.push_screen(screen)

    def action_draw(self) -> None:
        source = self.weights_source()
        if source is not None and not isinstance(self.screen, DrawScreen):
            names = self.run_started.class_names if self.run_started is not None else ()
            self.push_screen(DrawScreen(source, names) if names else DrawScreen(source))

    def weights_source(self) -> WeightsSource | None:
        """Where a canvas or the error browser gets weights: the trainer's copies of its latest evaluated weights
        while this process trains (after the first evaluation), the weights a run ended with once it has, and
        none for a viewer of a run another process trains."""
        if self.run_active:
            in_process = isinstance(self.control, Control) and not self.viewer
            ready = in_process and self.error_snapshot is not None  # after the first evaluation
            return LiveWeights(self.control.latest_weights, self.run_dir) if ready else None
        from ..runs.rundir import RunDirectory

        return RunWeights(self.run_dir) if self.run_dir and RunDirectory(self.run_dir).has_weights() else None

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
