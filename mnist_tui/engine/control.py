"""The one thread-safe way to steer a running trainer from another thread.

The UI (or a signal handler, or a test) calls the command methods; the trainer checks between steps.
Pausing blocks the trainer on an Event, not a sleep loop; stop also wakes a paused trainer.
"""

from __future__ import annotations

import threading


class Control:
    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._save = threading.Event()
        self._lock = threading.Lock()
        self._stop_reason = "stopped"

    # Commands (any thread) ------------------------------------------------------------------------------
    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

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

    def save_now(self) -> None:
        self._save.set()

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

    def take_save_request(self) -> bool:
        if self._save.is_set():
            self._save.clear()
            return True
        return False
