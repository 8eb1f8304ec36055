"""One run, reachable from other processes: a Unix socket that streams its events and takes its commands.

A process that trains (the detached background process, or the app) wraps its event stream in
``RunServer.wrap``. Once the run directory exists (at RunStarted) the server listens on a Unix socket, in
the run directory when the path is short enough and otherwise in a private per-user directory; the path
is recorded in ``process.json``. The socket file is mode 0600 and every connection's peer user is checked,
so only the user who started the run can reach it.

The protocol is JSON Lines both ways. A viewer sends ``{"op": "subscribe"}`` and gets ``{"hello": {...}}``
(the run's state), then every event so far (the lines of metrics.jsonl, which include those of earlier
processes of a resumed run, and the latest error snapshot), then each new event as it happens, as
``{"event": {...}}`` objects written by ``Event.to_dict``. Commands are ``{"op": "pause"}``, ``resume``,
``stop``, ``save_now``, ``set_lr`` (``lr``), ``scale_lr`` (``factor``) and ``set_early_stopping``
(``config``: the EarlyStoppingConfig fields); ``{"op": "status"}`` answers the state and closes.

``RemoteRun`` is the viewer's side: the same command methods and queries as ``Control``, and ``events()``,
which yields what the server streams. Stdlib only: no torch here, so a viewer starts at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import queue
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..config import EarlyStoppingConfig
from .control import Control
from .events import (
    PAUSED,
    RUNNING,
    STOPPING,
    EvaluationSnapshot,
    Event,
    RunDetached,
    RunFinished,
    RunStarted,
    StateChanged,
    event_from_dict,
)
from .rundir import RunDirectory

SOCKET_NAME = "control.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
CLIENT_QUEUE = 20_000  # lines a viewer may fall behind by before it is dropped (it can attach again)


class RemoteError(OSError):
    """The run's process cannot be reached."""


def socket_path_for(run_dir: Path) -> Path:
    """Where a run's socket goes: in the run directory, or (a long path) in a private per-user directory."""
    path = run_dir / SOCKET_NAME
    if len(os.fsencode(str(path))) <= MAX_SOCKET_PATH:
        return path
    private = Path(tempfile.gettempdir()) / f"mnist-tui-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    info = private.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RemoteError(f"{private}: not a private directory of this user; cannot place the run's socket there")
    digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:16]
    return private / f"{digest}.sock"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def _peer_uid(conn: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None  # macOS: the 0600 socket file is the guard
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class _Viewer:
    """One connected viewer: a queue of lines, written by its own thread so the trainer never waits on it."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
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
        self._iteration = 0
        self._closed = False

    # The run's side ---------------------------------------------------------------------------------------
    def wrap(self, events: Iterable[Event]) -> Iterator[Event]:
        """Yield ``events`` unchanged, publishing each; listen from RunStarted on; close at the end."""
        try:
            for event in events:
                if isinstance(event, RunStarted) and self._listener is None:
                    self._start(Path(event.run_dir))
                else:
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

    def _start(self, run_dir: Path) -> None:
        """Bind the socket (the run directory exists now) with the history so far read from metrics.jsonl."""
        self.run_dir = run_dir
        rd = RunDirectory(run_dir)
        self._recorded = sum(1 for _ in _complete_lines(rd.path / RunDirectory.METRICS))
        path = socket_path_for(run_dir)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a process that is gone
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        listener.listen(8)
        self._listener, self.path = listener, path
        rd.write_process(mode=self.mode, socket=str(path))
        threading.Thread(target=self._accept_loop, name="run-server", daemon=True).start()

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
        for viewer in viewers:  # let them have the end of the run before this process exits
            if viewer.writer is not None:
                viewer.writer.join(timeout=5.0)

    # Viewers' side ----------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._closed:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            uid = _peer_uid(conn)
            if uid is not None and uid != os.getuid():
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), name="run-viewer", daemon=True).start()

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
                for raw in lines:
                    try:
                        request = json.loads(raw)
                        op = request["op"]
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
                                itertools.islice(_complete_lines(self.run_dir / RunDirectory.METRICS), self._recorded),
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
            if viewer is not None:
                viewer.close()
            else:
                with contextlib.suppress(OSError):
                    conn.close()

    def _command(self, op: str, request: dict[str, Any]) -> None:
        control = self.control
        try:
            if op == "pause":
                control.pause()
            elif op == "resume":
                control.resume()
            elif op == "stop":
                control.stop(str(request.get("reason") or "stopped"))
            elif op == "save_now":
                control.save_now()
            elif op == "set_lr":
                control.set_lr(float(request["lr"]))
            elif op == "scale_lr":
                control.scale_lr(float(request["factor"]))
            elif op == "set_early_stopping":
                control.set_early_stopping(EarlyStoppingConfig(**request["config"]))
        except (ValueError, KeyError, TypeError):
            pass  # a malformed command changes nothing; the viewer validated what the user typed


def _complete_lines(path: Path) -> Iterator[bytes]:
    """The lines of a file that end with a newline (a line being written is not one yet), read lazily."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    return
                yield line
    except FileNotFoundError:
        return


def request_status(path: str | os.PathLike, timeout: float = 1.0) -> dict[str, Any]:
    """Ask a run's server for its state; RemoteError if nothing answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(encode({"op": "status"}))
            with sock.makefile("rb") as f:
                return json.loads(f.readline())["hello"]
    except (OSError, ValueError, KeyError) as exc:
        raise RemoteError(f"{path}: no answer ({exc})") from None


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
                    for raw in lines:
                        try:
                            message = json.loads(raw)
                        except ValueError:
                            continue
                        if "hello" in message:
                            self.hello = message["hello"]
                            self._paused = bool(self.hello.get("paused"))
                            self._stop_requested = bool(self.hello.get("stopping"))
                            continue
                        try:  # {"event": {...}} when live; a metrics.jsonl line as it is in the history
                            data = message["event"] if isinstance(message["event"], dict) else message
                            event = event_from_dict(data)
                        except (KeyError, TypeError, ValueError):
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
        from .runs import read_run  # runs.py imports this module

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
            if event.state == PAUSED:
                self._paused = True
            elif event.state == RUNNING:
                self._paused = False
            elif event.state == STOPPING:
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
