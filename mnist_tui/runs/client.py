"""A viewer's side of the socket: ``RemoteRun`` takes the commands ``Control`` takes and yields the run's
events as its process streams them (see protocol.py); it follows a handover to a background process."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config import EarlyStoppingConfig
from ..engine.events import (
    Event,
    RunDetached,
    RunFinished,
    RunStarted,
    RunState,
    StateChanged,
    event_from_dict,
)
from .catalogue import read_run
from .protocol import RemoteError, encode
from .untrusted import MAX_LINE_BYTES, json_object


class RemoteRun:
    """A viewer's handle on a run in another process: ``Control``'s commands and queries, and its events.

    Given the run directory, it follows a handover: when the process it watches hands the run to a
    background process (RunDetached), it connects to that one and goes on from the events it had.
    """

    HANDOVER_WAIT = 60.0  # seconds to wait for the background process of a handover to listen

    def __init__(
        self, path: str | os.PathLike, *, run_dir: str | os.PathLike | None = None, timeout: float = 3.0
    ) -> None:
        self.path = str(path)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.timeout = timeout
        self._send_lock = threading.Lock()
        self._paused = False
        self._stop_requested = False
        self._closed = False
        self.hello: dict[str, Any] = {}
        self.sock = self._connect(self.path)

    def _connect(self, path: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise RemoteError(f"cannot reach the run at {path} ({exc.strerror or exc})") from None
        sock.settimeout(None)
        return sock

    # Control's interface (what the app calls) ----------------------------------------------------------
    def pause(self) -> None:
        self._paused = True
        self._send({"op": "pause"})

    def resume(self) -> None:
        self._paused = False
        self._send({"op": "resume"})

    def toggle_pause(self) -> None:
        self.resume() if self._paused else self.pause()

    def stop(self, reason: str = "stopped") -> None:
        self._stop_requested = True
        self._send({"op": "stop", "reason": reason})

    def save_now(self) -> None:
        self._send({"op": "save_now"})

    def set_lr(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"learning rate must be greater than 0, got {lr}")
        self._send({"op": "set_lr", "lr": float(lr)})

    def scale_lr(self, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"factor must be greater than 0, got {factor}")
        self._send({"op": "scale_lr", "factor": float(factor)})

    def set_early_stopping(self, config: EarlyStoppingConfig) -> None:
        self._send({"op": "set_early_stopping", "config": dataclasses.asdict(config)})

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    # Events ------------------------------------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """The run's events: all so far, then live ones; a RunFinished(failed) if the process goes away."""
        seen = 0  # recorded events yielded so far: after a handover, the new process's history skips these
        while True:
            handed_over = False
            finished = False
            skip = seen
            self._send({"op": "subscribe"})
            try:
                with self.sock.makefile("rb") as lines:
                    for raw in _bounded_lines(lines):
                        message = json_object(raw)  # a line that is not an object (5, "hello"): skipped
                        if message is None:
                            continue
                        if "hello" in message:
                            if isinstance(message["hello"], dict):
                                self.hello = message["hello"]
                                self._paused = bool(self.hello.get("paused"))
                                self._stop_requested = bool(self.hello.get("stopping"))
                            continue
                        try:  # {"event": {...}} when live; a metrics.jsonl line as it is in the history
                            data = message["event"] if isinstance(message["event"], dict) else message
                            event = event_from_dict(data)
                        except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
                            continue
                        if event.record:
                            if skip:
                                skip -= 1
                                continue
                            seen += 1
                        self._observe(event)
                        finished = finished or isinstance(event, RunFinished)
                        if isinstance(event, RunDetached):
                            handed_over = True  # this process hands the run on: follow it when it hangs up
                        elif isinstance(event, RunStarted):
                            handed_over = False  # a process that took over earlier (seen in the history)
                        yield event
            except OSError:
                pass
            if finished or self._closed:
                return
            if handed_over and self._follow_handover():
                continue
            pid = self.hello.get("pid", "?")
            yield RunFinished.failure(f"the run's process ({pid}) went away without finishing the run")
            return

    def _follow_handover(self) -> bool:
        """Connect to the background process that took the run over; False if none shows up in time."""
        if self.run_dir is None:
            return False
        old_pid = self.hello.get("pid")
        deadline = time.monotonic() + self.HANDOVER_WAIT
        while not self._closed and time.monotonic() < deadline:
            info = read_run(self.run_dir)
            if info is not None and info.active and info.socket and info.pid != old_pid:
                try:
                    sock = self._connect(info.socket)
                except RemoteError:
                    pass
                else:
                    with contextlib.suppress(OSError):
                        self.sock.close()
                    self.sock, self.path = sock, info.socket
                    return True
            time.sleep(0.25)
        return False

    def _observe(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            if event.state == RunState.PAUSED:
                self._paused = True
            elif event.state == RunState.RUNNING:
                self._paused = False
            elif event.state == RunState.STOPPING:
                self._stop_requested = True
        elif isinstance(event, RunStarted):  # a new process of the run (resumed): nothing pending any more
            self._stop_requested = False
            self._paused = False

    def close(self) -> None:
        """Hang up (the run goes on)."""
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()

    def _send(self, message: dict[str, Any]) -> None:
        if self._closed:
            return
        with self._send_lock:
            try:
                self.sock.sendall(encode(message))
            except OSError:
                pass  # the run is gone; events() reports it


def _bounded_lines(stream: Any) -> Iterator[bytes]:
    """The lines of ``stream``, each read with a bound: a longer line comes out as its first
    ``MAX_LINE_BYTES + 1`` bytes (not JSON, so skipped) and the rest of it is read past, never held."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line
