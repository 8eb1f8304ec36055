"""The one thread-safe way to steer a running trainer from another thread.

The UI (or a signal handler, or a test) calls the command methods; the trainer checks between steps.
Pausing blocks the trainer on an Event, not a sleep loop; stop also wakes a paused trainer.
``RunControl`` is what a UI may ask of a run: ``Control`` for a run in this process, and
``runs.client.RemoteRun`` for a run another process trains.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..config import MAX_LR
from .events import Reason
from .latest_weights import LatestWeights

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


STOP_REASONS = (Reason.STOPPED, Reason.INTERRUPTED, Reason.DETACHED)


def _positive(value: object, name: str) -> float:
    """``value`` as a float if it is a finite number above 0 (a bool is not a number here), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number greater than 0, got {value!r}")
    return float(value)


def combined_lr(lr: float, changes: list[tuple]) -> tuple[float, list[str]]:
    """The learning rate after ``changes`` (("lr", value) sets it, ("lr_scale", factor) scales it), in order,
    and a line for each change refused because its result is not a number above 0 and at most ``MAX_LR``
    (1e300 scaled by 1e308 is inf, and Adam's step overflows float32 from about 3e37: a run must not train on
    it, nor write it): the lr stays as it was before that change."""
    refused: list[str] = []
    for kind, value in changes:
        new = value if kind == "lr" else lr * value
        if not (math.isfinite(new) and 0 < new <= MAX_LR):
            what = f"{value:g}" if kind == "lr" else f"{lr:g} × {value:g}"
            refused.append(
                f"learning rate {what} refused: it is {new:g}, not a number above 0 and at most {MAX_LR:g}; "
                f"it stays {lr:g}"
            )
            continue
        lr = new
    return lr, refused


class Control:
    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._save = threading.Event()
        self._wake = threading.Event()  # set by every command, so a paused trainer can act on it
        self._lock = threading.Lock()
        self._stop_reason = Reason.STOPPED
        self._changes: list[tuple] = []
        self.latest_weights = LatestWeights()  # the evaluated weights, copied for a canvas while one is open

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

    def stop(self, reason: str = Reason.STOPPED) -> None:
        """Finish the current step, evaluate, save and end the run with ``reason``: stopped (the user),
        interrupted (a signal) or detached (a handover). A signal always wins: an interrupt turns a stop or a
        handover asked for earlier into an interrupted end; otherwise the first reason stays."""
        if reason not in STOP_REASONS:
            raise ValueError(f"a run can be stopped as {', '.join(STOP_REASONS)}, not {reason!r}")
        with self._lock:
            if not self._stop.is_set() or reason == Reason.INTERRUPTED:
                self._stop_reason = Reason(reason)
            self._stop.set()
        self._running.set()
        self._wake.set()

    def save_now(self) -> None:
        self._save.set()
        self._wake.set()

    def set_lr(self, lr: float) -> None:
        """Use this learning rate from the next step (a finite number above 0, or ValueError)."""
        self._queue(("lr", _positive(lr, "learning rate")))

    def scale_lr(self, factor: float) -> None:
        """Multiply the learning rate by ``factor`` from the next step (a finite number above 0, or ValueError)."""
        self._queue(("lr_scale", _positive(factor, "factor")))

    def set_early_stopping(self, config: "EarlyStoppingConfig") -> None:
        """New early-stopping settings, applied at the next evaluation."""
        from ..config import EarlyStoppingConfig  # checked when made: types, ranges, finiteness

        if not isinstance(config, EarlyStoppingConfig):
            raise ValueError(f"early-stopping settings must be an EarlyStoppingConfig, got {config!r}")
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
