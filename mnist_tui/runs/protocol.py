"""The socket protocol between a process that trains a run and its viewers: where the socket goes, how a
line is framed, the status request.

A process that trains (the detached background process, or the app) serves its run on a Unix socket
(``server.RunServer``), in the run directory when the path is short enough and otherwise in a private
per-user directory; the path is recorded in ``process.json``. The socket file is mode 0600 and every
connection's peer user is checked, so only the user who started the run can reach it.

The protocol is JSON Lines both ways. A viewer sends ``{"op": "subscribe"}`` and gets ``{"hello": {...}}``
(the run's state), then every event so far (the lines of metrics.jsonl, which include those of earlier
processes of a resumed run, and the latest error snapshot), then each new event as it happens, as
``{"event": {...}}`` objects written by ``Event.to_dict``. Commands are ``{"op": "pause"}``, ``resume``,
``stop``, ``save_now``, ``set_lr`` (``lr``), ``scale_lr`` (``factor``) and ``set_early_stopping``
(``config``: the EarlyStoppingConfig fields); ``{"op": "status"}`` answers the state and closes.
Stdlib only: no torch here, so a viewer starts at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SOCKET_NAME = "control.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
MAX_LINE = 64 * 1024  # the longest command line a server reads; a longer one drops the connection
MAX_VIEWERS = 16  # connections a run serves at once; more are hung up on
CLIENT_QUEUE = 20_000  # lines a viewer may fall behind by before it is dropped (it can attach again)


class RemoteError(OSError):
    """The run's process cannot be reached."""


def socket_path_for(run_dir: Path) -> Path:
    """Where a run's socket goes: in the run directory when the path fits in a socket address; else in the
    user's runtime directory ($XDG_RUNTIME_DIR), else in a private directory under the temp dir (a fresh,
    randomly named one when another user has taken ``mnist-tui-UID``). RemoteError when none will do."""
    path = run_dir / SOCKET_NAME
    if len(os.fsencode(str(path))) <= MAX_SOCKET_PATH:
        return path
    name = f"{hashlib.sha1(str(run_dir).encode()).hexdigest()[:16]}.sock"
    for make in (_runtime_dir, _temp_dir, _fresh_temp_dir):
        try:
            directory = make()
        except OSError:
            continue
        if directory is not None and len(os.fsencode(str(directory / name))) <= MAX_SOCKET_PATH:
            return directory / name
    raise RemoteError("no private directory for the run's socket (runtime and temp directories refused)")


def _private(directory: Path) -> Path | None:
    """``directory`` made if need be and kept only if it is this user's own and nobody else's to write."""
    directory.mkdir(mode=0o700, exist_ok=True)
    info = directory.lstat()
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
        return directory
    return None


def _runtime_dir() -> Path | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return _private(Path(runtime) / "mnist-tui") if runtime else None


def _temp_dir() -> Path | None:
    return _private(Path(tempfile.gettempdir()) / f"mnist-tui-{os.getuid()}")


def _fresh_temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix=f"mnist-tui-{os.getuid()}-"))


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def peer_uid(conn: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None  # macOS: the 0600 socket file is the guard
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def complete_lines(path: Path) -> Iterator[bytes]:
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
