"""The live app: one run, shown on the training screen as it happens, and steered from the keyboard.

``MnistApp`` runs the event source in a thread worker (workers.py) and hands each event to the
``TrainingScreen`` (screens/training.py), which shows it. The app keeps the run's state, takes the user's
commands (keys and the command palette) and sends them to the run through a ``RunControl``. torch is not
imported here: the real event source imports the trainer inside the worker, so the first frame appears at once.

    from mnist_tui.config import TrainConfig
    from mnist_tui.ui.live.launch import run_app
    run_app(TrainConfig(max_steps=300))
"""

from __future__ import annotations

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
from textual.worker import Worker

from ...engine import events as ev
from ...engine.control import Control, RunControl
from ...runs.devstats import read_device_stats
from . import heap
from .alerts import Alert, RunAlerts, run_end_alert
from .commands import COMMANDS
from .keymap import TOAST_SECONDS, Keymap
from .lifecycle import RunLifecycle
from .messages import DeviceStatsRead, EngineEvent
from .mode import AppMode
from ..common.refresh import DEFAULT_REFRESH
from ..screens import TrainingScreen
from ..screens.errors import ErrorsScreen
from .steering import RunSteering
from ..common.theme import TERMINAL_DARK, match_no_color
from .views import RunViews
from ..widgets import AccuracyChart, DevicePanel, LossChart, PredictionStrip, RunLog, StatusPanel, TrainDigits
from ..widgets.early_stopping import EarlyStoppingPanel
from .workers import EventSource, StatsReader, poll_stats


def _on_training(name: str) -> Any:
    """A read-only attribute of the app that is the training screen's ``name``."""
    return property(lambda app: getattr(app.training, name))


class MnistApp(RunAlerts, RunLifecycle, RunSteering, RunViews, App[None]):
    """Shows one run as it happens and steers it (steering.py); lifecycle.py says how it ends, views.py what the
    user looks at, alerts.py what the terminal's bell and title tell a user looking elsewhere."""

    CSS_PATH = "../app.tcss"
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
        self.theme = theme  # the default: the terminal's own colours (common/theme.py); the palette changes it
        match_no_color(self)
        self.ring_bell = bell  # ring the terminal's bell when the run needs the user (alerts.py)
        self.keymap = keymap or Keymap()
        if self.keymap.keys:
            self.set_keymap(self.keymap.bindings)  # every id, so the footer keeps its order (keymap.py)
        self.alerts: list[Alert] = []  # what the app told the user (bell and toast), in order
        self.window_title = ""  # what the terminal's (or tmux's) title says now
        self.latest_iteration = 0  # of the latest step the run reported (the status line may show it a little later)
        self.training = TrainingScreen(clock)  # the clock times the "starting/loading for N s" counter
        self.training.refresh_seconds = refresh  # seconds between updates of the screen (refresh.py)
        self.event_source = event_source
        self.control: RunControl = control or Control()  # a viewer's is a runs.client.RemoteRun
        self.stats_reader: StatsReader = stats_reader or read_device_stats
        self.stats_interval = stats_interval
        self.settle_heap = False  # freeze the start-up heap when the run starts (heap.py): the app in a terminal does
        self.run_dir = run_dir
        self.banner: str | None = None  # a first line for the run log (a viewer says what it shows)
        self.finished: ev.RunFinished | None = None
        self.error_snapshots: dict[str, ev.EvaluationSnapshot] = {}  # what the latest evaluation of each set got wrong
        self.trainer_finished = threading.Event()  # set when the training worker has returned
        self.screenshots: list[str] = []
        self._stats_stop = threading.Event()
        self._stats_worker: Worker | None = None

    # Lifecycle -------------------------------------------------------------------------------------------
    def watch_theme(self, theme: str) -> None:
        match_no_color(self)  # the palette's Theme command may move between an ANSI theme and the others

    def get_default_screen(self) -> Screen:
        return self.training

    def on_training_screen_ready(self) -> None:
        """The screen is composed: say the run is starting, and start it (its events need the widgets)."""
        self._push_window_title()  # keep the terminal's own title first, to give it back at the end
        self._set_state(ev.RunState.STARTING, "starting: importing PyTorch and the trainer…")
        if self.banner:
            self.run_log.add(self.banner)
        for problem in self.keymap.problems:
            self.run_log.add(problem, "warning")
        if self.keymap.toast:  # one short toast for them all: each one at length covered an 80x24 screen
            self.notify(self.keymap.toast, title="Keymap", severity="warning", timeout=TOAST_SECONDS)
        for panel in self.maximizable_panels:
            panel.can_focus = True  # tab moves between the panels; z (or the palette) enlarges the focused one
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
        if self.settle_heap:
            heap.settle()  # torch and the data are loaded: out of the collector's way (heap.py)

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

    def _set_state(self, state: str, message: str | None = None) -> None:
        self.run_state = state
        self.training.set_state(state, message, settings_keys=self.check_action("early_stopping", ()) is True)
        self._update_window_title()

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

    # Command palette: the same actions, by name -------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in COMMANDS:
            if self.check_action(command.action, ()):
                action = getattr(self, f"action_{command.action}")
                yield SystemCommand(command.palette_title, command.palette_help, action)
        for command in super().get_system_commands(screen):  # Textual's, "Theme" among them
            if command.title not in ("Quit", "Screenshot", "Maximize", "Minimize"):  # ours do these
                yield command
