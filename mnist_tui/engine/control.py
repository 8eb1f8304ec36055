"""The one thread-safe way to steer a running trainer from another thread.

The UI (or a signal handler, or a test) calls the command methods; the trainer checks between steps.
Pausing blocks the trainer on an Event, not a sleep loop; stop also wakes a paused trainer.
``RunControl`` is what a UI may ask of a run: ``Control`` for a run in this process, and
``runs.client.RemoteRun`` for a run another process trains.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..config import EarlyStoppingConfig


@runtime_checkable
class RunControl(Protocol):
    """The commands and queries a UI steers a run with, wherever the run trains."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def toggle_pause(self) -> None: ...
    def stop(self, reason: str = "stopped") -> None: ...
    def save_now(self) -> None: ...
    def set_lr(self, lr: float) -> None: ...
    def scale_lr(self, factor: float) -> None: ...
    def set_early_stopping(self, config: EarlyStoppingConfig) -> None: ...

    def close(self) -> None:
        """Let go of the run: a viewer hangs up (the run goes on); nothing to do for a run in this process."""

    @property
    def paused(self) -> bool: ...
    @property
    def stop_requested(self) -> bool: ...


class Control:
    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._save = threading.Event()
        self._wake = threading.Event()  # set by every command, so a paused trainer can act on it
        self._lock = threading.Lock()
        self._stop_reason = "stopped"
        self._changes: list[tuple] = []

    # Commands (any thread) ------------------------------------------------------------------------------
    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()
        self._wake.set()

    def toggle_pause(self) -> None:
        with self._lock:
            if self._running.is_set():
                self.pause()
            else:
                self.resume()

    def stop(self, reason: str = "stopped") -> None:
        """Finish the current step, evaluate, save and end the run with ``reason``."""
        with self._lock:
            if not self._stop.is_set():
                self._stop_reason = reason
            self._stop.set()
        self._running.set()
        self._wake.set()

    def save_now(self) -> None:
        self._save.set()
        self._wake.set()

    def set_lr(self, lr: float) -> None:
        """Use this learning rate from the next step."""
        if not lr > 0:
            raise ValueError(f"learning rate must be greater than 0, got {lr}")
        self._queue(("lr", float(lr)))

    def scale_lr(self, factor: float) -> None:
        """Multiply the learning rate by ``factor`` from the next step."""
        if not factor > 0:
            raise ValueError(f"factor must be greater than 0, got {factor}")
        self._queue(("lr_scale", float(factor)))

    def set_early_stopping(self, config: "EarlyStoppingConfig") -> None:
        """New early-stopping settings, applied at the next evaluation."""
        self._queue(("early_stopping", config))

    def close(self) -> None:
        """Nothing to let go of: the run is in this process (stop ends it)."""

    def _queue(self, change: tuple) -> None:
        with self._lock:
            self._changes.append(change)

    # Queries (trainer thread) ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_reason(self) -> str:
        return self._stop_reason

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True once running (or stopping)."""
        return self._running.wait(timeout)

    def wait_for_command(self, timeout: float | None = None) -> None:
        """Block until any command arrives (resume, stop, save now, ...)."""
        self._wake.wait(timeout)
        self._wake.clear()

    def take_changes(self, kind: str) -> list[tuple]:
        """Remove and return the queued changes of one kind ("lr" takes lr and lr_scale), oldest first."""
        kinds = ("lr", "lr_scale") if kind == "lr" else (kind,)
        with self._lock:
            taken = [c for c in self._changes if c[0] in kinds]
            self._changes = [c for c in self._changes if c[0] not in kinds]
        return taken

    @property
    def has_changes(self) -> bool:
        return bool(self._changes)

    def take_save_request(self) -> bool:
        if self._save.is_set():
            self._save.clear()
            return True
        return False
