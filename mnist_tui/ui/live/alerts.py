"""What the live app tells a user who is looking elsewhere (another tmux window, another tab): the terminal's
bell and a toast when the run ends, and the terminal's title (state, progress, best accuracy) for the tab bar.
``RunAlerts`` is the mixin of ``MnistApp`` (app.py) that does both."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App

from ...engine import events as ev

OUT_OF_MEMORY = "ran out of memory"  # how the trainer's out-of-memory end says it (engine/trainer.py)


@dataclass(frozen=True)
class Alert:
    """One thing the app told the user: the kind of end, and the toast's title and text."""

    kind: str  # completed | stopped | early_stop | interrupted | diverged | out_of_memory | lost_connection | failed
    title: str
    message: str
    severity: str = "information"
    timeout: float = 30.0  # a toast the user may only see on coming back: it stays a while


_TITLES = {
    ev.Reason.COMPLETED: ("Run finished", "information"),
    ev.Reason.STOPPED: ("Run stopped", "information"),
    ev.Reason.EARLY_STOP: ("Early stop", "information"),
    ev.Reason.INTERRUPTED: ("Run interrupted", "warning"),
    ev.Reason.DIVERGED: ("The run diverged", "error"),
    "out_of_memory": ("Out of memory", "error"),
    "lost_connection": ("Lost the connection to the run", "error"),
    ev.Reason.FAILED: ("The run failed", "error"),
}


def run_end_alert(event: ev.RunFinished, *, viewer: bool) -> Alert:
    """How the run ended, as the user should hear of it. A viewer's run that "failed" without a position was
    reported by the viewer's own side (its process went away, the socket broke): the connection was lost."""
    kind = str(event.reason)
    if event.reason == ev.Reason.FAILED:
        if OUT_OF_MEMORY in event.message:
            kind = "out_of_memory"
        elif viewer and event.iteration < 0:
            kind = "lost_connection"
    title, severity = _TITLES.get(kind, _TITLES[ev.Reason.FAILED])
    return Alert(kind, title, event.message, severity)


_STATE_WORDS = {
    ev.RunState.STARTING: "starting",
    ev.RunState.LOADING: "loading",
    ev.RunState.RUNNING: "",  # the usual case says only the figures: "mnist-tui 45% 98.9%"
    ev.RunState.PAUSED: "paused",
    ev.RunState.STOPPING: "stopping",
    ev.RunState.FINISHED: "done",
    ev.RunState.EARLY_STOPPED: "done (early stop)",
    ev.RunState.FAILED: "FAILED",
}


def window_title(state: str, progress: float | None, best: float | None) -> str:
    """``mnist-tui [state] [progress%] [best validation accuracy%]``; ``progress`` is 0..1, ``best`` in percent.
    Progress rounds down, so 100% means the run went all the way."""
    parts = ["mnist-tui", _STATE_WORDS.get(state, str(state))]
    if progress is not None:
        parts.append(f"{int(100 * min(max(progress, 0.0), 1.0))}%")
    if best is not None:
        parts.append(f"{best:.1f}%")
    return " ".join(part for part in parts if part)


class RunAlerts(App[None]):
    """The bell, the toasts and the terminal's title. The app (app.py) sets ``ring_bell``, ``alerts`` and
    ``window_title`` and provides the ``run_state``, the ``latest_iteration``, the ``run_started`` and the
    training screen's ``accuracy_chart`` that the title shows."""

    ring_bell: bool
    alerts: list[Alert]  # what the app told the user (bell and toast), in order
    window_title: str  # what the terminal's (or tmux's) title says now
    run_state: str
    latest_iteration: int

    def _alert(self, alert: Alert, *, toast: bool) -> None:
        """Tell the user, also in another tmux window or terminal tab: the bell, and a toast."""
        self.alerts.append(alert)
        if self.ring_bell:
            self.bell()
        if toast:
            self.notify(alert.message, title=alert.title, severity=alert.severity, timeout=alert.timeout)

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
        # Textual calls the on_unmount of each class of the app; lifecycle.py's winds the run down.
        self._write_terminal("\x1b[23;2t")  # the terminal's title as it was (where it keeps a stack)

    def _write_terminal(self, sequence: str) -> None:
        if not self.is_headless and self._driver is not None:
            self._driver.write(sequence)
