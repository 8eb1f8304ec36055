"""The training process's side of the socket: ``RunServer.wrap`` passes a run's events through, streams them
to every connected viewer and applies the viewers' commands to the run's ``Control`` (see protocol.py).

A viewer never holds the run up: each is written to by its own thread from a bounded queue (one that falls too far
behind is dropped), a write that waits ``SEND_TIMEOUT`` seconds on a viewer that stopped reading drops it, and at
the end of the run all viewers together get ``CLOSE_GRACE`` seconds to take what is left before those still not
reading are hung up on, so a process with any number of stuck viewers exits (and frees its run) within seconds."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..config import EarlyStoppingConfig
from ..engine.control import Control
from ..engine.events import EvaluationSnapshot, Event, Log, Reason, RunFinished, RunStarted, StateChanged
from .protocol import (
    CLIENT_QUEUE,
    MAX_LINE,
    MAX_VIEWERS,
    complete_lines,
    encode,
    peer_uid,
    socket_path_for,
)
from .rundir import RunDirectory

SEND_TIMEOUT = 10.0  # seconds a write to a viewer may wait for it to read before the viewer is dropped
CLOSE_GRACE = 3.0  # seconds all viewers together get, at the end of the run, to take what is still queued


def _send_timeout(conn: socket.socket, seconds: float) -> None:
    """Bound every write to ``conn`` (SO_SNDTIMEO: reads stay blocking, as a viewer may be quiet for hours)."""
    with contextlib.suppress(OSError, AttributeError):
        whole = int(seconds)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", whole, int((seconds - whole) * 1e6)))


class _Viewer:
    """One connected viewer: a queue of lines, written by its own thread so the trainer never waits on it."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        _send_timeout(conn, SEND_TIMEOUT)
        self.backlog: Iterable[bytes] = ()  # what was there before it subscribed: sent first
        self.lines: queue.Queue[bytes | None] = queue.Queue(CLIENT_QUEUE)
        self.alive = True
        self.writer: threading.Thread | None = None

    def send(self, line: bytes) -> None:
        if not self.alive:
            return
        try:
            self.lines.put_nowait(line)
        except queue.Full:  # too slow: drop it rather than hold the run up
            self.close()

    def close(self) -> None:
        self.alive = False
        with contextlib.suppress(queue.Full):
            self.lines.put_nowait(None)
        self.hang_up()

    def hang_up(self) -> None:
        """End the connection now: a write waiting on it fails at once, and its writer thread ends."""
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)

    def write_loop(self) -> None:
        try:
            for line in self.backlog:
                self.conn.sendall(line)
            self.backlog = ()
            while (line := self.lines.get()) is not None:
                self.conn.sendall(line)
        except OSError:
            pass
        finally:
            self.alive = False
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)  # the viewer sees the end now, whoever else holds the socket
            with contextlib.suppress(OSError):
                self.conn.close()


class RunServer:
    """Streams one run's events to viewers and applies their commands to its ``Control``."""

    def __init__(self, control: Control, *, mode: str) -> None:
        self.control = control
        self.mode = mode  # "detached" or "app": recorded in process.json for `mnist-tui runs`
        self.path: Path | None = None
        self.run_dir: Path | None = None
        self._lock = threading.Lock()
        self._recorded = 0  # events in metrics.jsonl so far: the history a new viewer is sent from the file
        self._snapshot: EvaluationSnapshot | None = None  # the latest error snapshot (not in metrics.jsonl)
        self._viewers: list[_Viewer] = []
        self._listener: socket.socket | None = None
        self._state = "starting"
        self._connections = 0  # viewers and status requests being served (at most MAX_VIEWERS)
        self._iteration = 0
        self._closed = False

    # The run's side ---------------------------------------------------------------------------------------
    def wrap(self, events: Iterable[Event]) -> Iterator[Event]:
        """Yield ``events`` unchanged, publishing each; listen from RunStarted on; close at the end."""
        try:
            for event in events:
                if isinstance(event, RunStarted) and self._listener is None and self.run_dir is None:
                    problem = self._start(Path(event.run_dir))
                    yield event
                    if problem:  # the run goes on without viewers; the user hears why
                        yield Log(
                            f"no socket for viewers ({problem}): 'mnist-tui attach' cannot reach this run", "warning"
                        )
                    continue
                self.publish(event)
                yield event
        finally:
            self.close()

    def publish(self, event: Event) -> None:
        if isinstance(event, (StateChanged, RunFinished)):
            self._state = event.state
        iteration = getattr(event, "iteration", None)
        if isinstance(iteration, int) and iteration >= 0:
            self._iteration = iteration
        if self._listener is None:
            return  # nobody can be connected yet; metrics.jsonl holds these events for the history
        with self._lock:
            if event.record:  # the trainer wrote it to metrics.jsonl before yielding it
                self._recorded += 1
            elif isinstance(event, EvaluationSnapshot):
                self._snapshot = event
            else:
                return
            if not self._viewers:
                return  # nothing to encode: the training thread pays only when someone watches
            line = encode({"event": event.to_dict()})
            for viewer in self._viewers:
                viewer.send(line)
            self._viewers = [v for v in self._viewers if v.alive]

    def _start(self, run_dir: Path) -> str | None:
        """Bind the socket (the run directory exists now) with the history so far read from metrics.jsonl.

        What went wrong when no socket could be made (the run trains on without one), else None.
        """
        self.run_dir = run_dir
        rd = RunDirectory(run_dir)
        self._recorded = sum(1 for _ in complete_lines(rd.path / RunDirectory.METRICS))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            path = socket_path_for(run_dir)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a stale socket of a process that is gone
            old = os.umask(0o177)
            try:
                listener.bind(str(path))
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
            listener.listen(8)
        except OSError as exc:
            listener.close()
            rd.write_process(mode=self.mode, socket=None)
            return str(exc.strerror or exc)
        self._listener, self.path = listener, path
        rd.write_process(mode=self.mode, socket=str(path))
        threading.Thread(target=self._accept_loop, name="run-server", daemon=True).start()
        return None

    def close(self) -> None:
        """Stop listening and hang up on every viewer (after they got everything sent so far)."""
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()
            if self.path is not None:
                with contextlib.suppress(OSError):
                    self.path.unlink()
        with self._lock:
            viewers, self._viewers = self._viewers, []
        for viewer in viewers:
            with contextlib.suppress(queue.Full):
                viewer.lines.put_nowait(None)  # the writer sends what is queued, then closes
            if viewer.lines.full():  # too far behind to take the end: drop it now
                viewer.hang_up()
        # Let them have the end of the run before this process exits: all of them together within CLOSE_GRACE.
        deadline = time.monotonic() + CLOSE_GRACE
        for viewer in viewers:
            if viewer.writer is not None:
                viewer.writer.join(timeout=max(0.0, deadline - time.monotonic()))
        for viewer in viewers:  # those still not reading are hung up on; their writers end at once
            if viewer.writer is not None and viewer.writer.is_alive():
                viewer.hang_up()
                viewer.writer.join(timeout=1.0)

    # Viewers' side ----------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._closed:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            uid = peer_uid(conn)
            with self._lock:
                full = self._connections >= MAX_VIEWERS
                if not full and (uid is None or uid == os.getuid()):
                    self._connections += 1
                    threading.Thread(target=self._serve, args=(conn,), name="run-viewer", daemon=True).start()
                    continue
            conn.close()

    def _hello(self) -> dict[str, Any]:
        return {
            "hello": {
                "pid": os.getpid(),
                "mode": self.mode,
                "state": self._state,
                "iteration": self._iteration,
                "paused": self.control.paused,
                "stopping": self.control.stop_requested,
            }
        }

    def _serve(self, conn: socket.socket) -> None:
        viewer: _Viewer | None = None
        try:
            with conn.makefile("rb") as lines:
                while raw := lines.readline(MAX_LINE + 1):
                    if len(raw) > MAX_LINE:
                        return  # a line longer than any command: not a viewer of ours
                    try:
                        request = json.loads(raw)
                        op = request["op"]
                        if not isinstance(op, str):
                            raise TypeError(op)
                    except (ValueError, KeyError, TypeError):
                        continue
                    if op == "status":
                        conn.sendall(encode(self._hello()))
                        return
                    if op == "subscribe" and viewer is None:
                        viewer = _Viewer(conn)
                        with self._lock:  # the history so far, then every event after it: none lost, none twice
                            snapshot = self._snapshot
                            viewer.backlog = itertools.chain(
                                [encode(self._hello())],
                                itertools.islice(complete_lines(self.run_dir / RunDirectory.METRICS), self._recorded),
                                [encode({"event": snapshot.to_dict()})] if snapshot is not None else [],
                            )
                            if self._closed:
                                viewer.lines.put_nowait(None)
                            else:
                                self._viewers.append(viewer)
                        viewer.writer = threading.Thread(target=viewer.write_loop, name="run-viewer-out", daemon=True)
                        viewer.writer.start()
                    else:
                        self._command(op, request)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections -= 1
            if viewer is not None:
                viewer.close()
            else:
                with contextlib.suppress(OSError):
                    conn.close()

    def _command(self, op: str, request: dict[str, Any]) -> None:
        """A viewer's command. A viewer may ask to stop (never with another reason: only this process ends a
        run as completed, interrupted or handed over), pause, save, or change settings; whatever the line
        says, a malformed command changes nothing and never raises."""
        control = self.control
        try:
            if op == "pause":
                control.pause()
            elif op == "resume":
                control.resume()
            elif op == "stop":
                control.stop(Reason.STOPPED)
            elif op == "save_now":
                control.save_now()
            elif op == "set_lr":
                control.set_lr(request["lr"])
            elif op == "scale_lr":
                control.scale_lr(request["factor"])
            elif op == "set_early_stopping":
                settings = request["config"]
                if not isinstance(settings, dict):
                    raise TypeError(settings)
                control.set_early_stopping(EarlyStoppingConfig(**settings))
        except Exception:  # noqa: BLE001 - a viewer's bad line must never reach the run or the screen
            pass
