"""What the live app tells a user who is looking elsewhere (another tmux window, another tab): the terminal's
bell and a toast when the run ends, and the terminal's title (state, progress, best accuracy) for the tab bar."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import events as ev

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
