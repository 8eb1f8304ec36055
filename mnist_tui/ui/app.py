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
from textual.widget import Widget
from textual.worker import Worker

from ..engine import events as ev
from ..engine.control import Control, RunControl
from ..runs.devstats import read_device_stats
from .alerts import Alert, run_end_alert, window_title
from .commands import COMMANDS
from .inference import LiveWeights, RunWeights, WeightsSource
from .keymap import Keymap
from .lifecycle import RunLifecycle
from .messages import DeviceStatsRead, EngineEvent
from .mode import AppMode
from .refresh import CHART_PERIODS, DEFAULT_REFRESH, next_rate
from .screens import HelpScreen, TrainingScreen
from .screens.draw import DrawScreen
from .screens.errors import ErrorsScreen
from .screenshot import save_svg
from .steering import RunSteering
from .theme import TERMINAL_DARK
from .widgets import AccuracyChart, DevicePanel, LossChart, PredictionStrip, RunLog, StatusPanel, TrainDigits
from .widgets.early_stopping import EarlyStoppingPanel
from .workers import EventSource, StatsReader, poll_stats


def _on_training(name: str) -> Any:
    """A read-only attribute of the app that is the training screen's ``name``."""
    return property(lambda app: getattr(app.training, name))


class MnistApp(RunLifecycle, RunSteering, App[None]):
    """Shows one run as it happens and steers it (steering.py); lifecycle.py says how it ends."""

    CSS_PATH = "app.tcss"
    TITLE = "mnist-tui"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-normal"), (170, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (34, "-medium"), (50, "-tall")]
    BINDINGS: ClassVar[list[Binding]] = [command.binding for command in COMMANDS]
    AUTO_FOCUS = None  # no panel is focused until the user moves there (tab), so none is highlighted at first
    ALLOW_IN_MAXIMIZED_VIEW = "StatusPanel, Footer"  # an enlarged panel still has the run's state and the keys

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
        theme: str = TERMINAL_DARK,
        bell: bool = True,
        keymap: Keymap | None = None,
        refresh: float = DEFAULT_REFRESH,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.theme = theme  # the default: the terminal's own colours (theme.py); the palette changes it
        self.ring_bell = bell  # ring the terminal's bell when the run needs the user (alerts.py)
        self.keymap = keymap or Keymap()
        if self.keymap.keys:
            self.set_keymap(self.keymap.keys)
        self.alerts: list[Alert] = []  # what the app told the user (bell and toast), in order
        self.window_title = ""  # what the terminal's (or tmux's) title says now
        self.latest_iteration = 0  # of the latest step the run reported (the status line may show it a little later)
        self.training = TrainingScreen(clock)  # the clock times the "starting/loading for N s" counter
        self.training.refresh_seconds = refresh  # seconds between updates of the screen (refresh.py)
        self.event_source = event_source
        self.control: RunControl = control or Control()  # a viewer's is a runs.client.RemoteRun
        self.stats_reader: StatsReader = stats_reader or read_device_stats
        self.stats_interval = stats_interval
        self.run_dir = run_dir
        self.banner: str | None = None  # a first line for the run log (a viewer says what it shows)
        self.finished: ev.RunFinished | None = None
        self.error_snapshots: dict[str, ev.EvaluationSnapshot] = {}  # what the latest evaluation of each set got wrong
        self.trainer_finished = threading.Event()  # set when the training worker has returned
        self.screenshots: list[str] = []
        self._stats_stop = threading.Event()
        self._stats_worker: Worker | None = None

    # Lifecycle -------------------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return self.training

    def on_training_screen_ready(self) -> None:
        """The screen is composed: say the run is starting, and start it (its events need the widgets)."""
        self._set_state(ev.RunState.STARTING, "starting: importing PyTorch and the trainer…")
        if self.banner:
            self.run_log.add(self.banner)
        for problem in self.keymap.problems:
            self.run_log.add(problem, "warning")
            self.notify(problem, title="Keymap", severity="warning", timeout=20)
        for panel in self.maximizable_panels:
            panel.can_focus = True  # tab moves between the panels; z (or the palette) enlarges the focused one
        self._push_window_title()
        self._start_trainer()

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_bindings)  # d applies only while one digit panel shows at a time

    def _start_stats(self, device: str) -> None:
        if self._stats_worker is None:
            read = partial(poll_stats, self.stats_reader, device, self.stats_interval, self._stats_stop)
            self._stats_worker = self.run_worker(
                partial(read, self.post_message), thread=True, name="device-stats", group="stats", exit_on_error=False
            )

    def on_device_stats_read(self, message: DeviceStatsRead) -> None:
        if self.is_running:
            self.training.set_stats(message.stats)

    # The run's state, from its events; the training screen shows them -------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        if self.is_running:  # events still queued while the app shuts down are dropped
            if isinstance(message.event, (ev.StepMetrics, ev.RunFinished)) and message.event.iteration >= 0:
                self.latest_iteration = message.event.iteration
            self._route(message.event)
            self._update_window_title()  # progress and accuracy move without a change of state

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
        self._checkpoint_saved(event)

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
        # The screen toasts a failure itself; other ends are told here, with the bell, unless the user is quitting.
        self._set_state(event.state, self.training.finish(event, self.run_dir, quiet=True))
        if not self.quitting and self.mode is not AppMode.HISTORY:  # a history replays an end long past
            self._alert(run_end_alert(event, viewer=self.viewer), toast=event.state != ev.RunState.FAILED)

    def _alert(self, alert: Alert, *, toast: bool) -> None:
        """Tell the user, also in another tmux window or terminal tab: the bell, and a toast."""
        self.alerts.append(alert)
        if self.ring_bell:
            self.bell()
        if toast:
            self.notify(alert.message, title=alert.title, severity=alert.severity, timeout=alert.timeout)

    # The terminal's title: state, progress and best accuracy, for the tab bar ------------------------------
    def _update_window_title(self) -> None:
        run = self.run_started
        progress = None
        if run is not None and run.total_steps > 0:
            progress = self.latest_iteration / run.total_steps
        title = window_title(self.run_state, progress, self.accuracy_chart.best)
        if title != self.window_title:
            self.window_title = title
            self._write_terminal("\x1b]2;" + title.replace("\x07", "").replace("\x1b", "") + "\x07")

    def _push_window_title(self) -> None:
        """Keep the terminal's own title (xterm's title stack), to give it back when the app ends."""
        self._write_terminal("\x1b[22;2t")
        self._update_window_title()

    def on_unmount(self) -> None:
        self._write_terminal("\x1b[23;2t")  # the terminal's title as it was (where it keeps a stack)

    def _write_terminal(self, sequence: str) -> None:
        if not self.is_headless and self._driver is not None:
            self._driver.write(sequence)

    def _set_state(self, state: str, message: str | None = None) -> None:
        self.run_state = state
        self.training.set_state(state, message, settings_keys=self.check_action("early_stopping", ()) is True)
        self._update_window_title()

    @property
    def maximizable_panels(self) -> tuple[Widget, ...]:
        """The panels z (or the palette's "Maximize") can enlarge to the whole screen."""
        t = self.training
        return (t.loss_chart, t.accuracy_chart, t.train_digits, t.predictions, t.device_panel, t.early_stopping_panel)

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
        if action in ("maximize_panel", "loss_scale", "loss_window", "accuracy_zoom"):
            return self.screen is self.training
        return True

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
        from ..runs.rundir import RunDirectory

        return RunWeights(self.run_dir) if self.run_dir and RunDirectory(self.run_dir).has_weights() else None

    def action_help(self) -> None:
        self.open_screen(HelpScreen, lambda: HelpScreen(self.run_dir), "the help")

    def action_refresh_rate(self) -> None:
        """Step through the refresh rates (refresh.py): slower for a slow link, and back."""
        seconds = next_rate(self.training.refresh_seconds)
        self.training.set_refresh(seconds)
        charts = seconds * CHART_PERIODS
        self.notify(f"Numbers update every {seconds:g} s, the charts every {charts:g} s", title="Refresh rate")

    def action_screenshot(self) -> None:
        try:
            path = save_svg(self, self.run_dir or os.getcwd())
        except OSError as exc:
            self.notify(f"Could not save the screenshot: {exc}", severity="error")
            return
        self.screenshots.append(path)
        self.notify(path, title="Screenshot saved")

    # Command palette: the same actions, by name -------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in COMMANDS:
            if self.check_action(command.action, ()):
                action = getattr(self, f"action_{command.action}")
                yield SystemCommand(command.palette_title, command.palette_help, action)
        for command in super().get_system_commands(screen):  # Textual's, "Theme" among them
            if command.title not in ("Quit", "Screenshot", "Maximize", "Minimize"):  # ours do these
                yield command
