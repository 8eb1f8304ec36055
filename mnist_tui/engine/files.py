"""Writing a run's files safely: never through a symlink someone planted, never half-written.

``atomic_write`` writes a temporary file made by ``mkstemp`` beside the target (a name nobody can guess or
plant in advance), fsyncs it, renames it over the target (a rename replaces a symlink, it does not follow
it) and fsyncs the directory. ``open_nofollow`` opens a file for appending or updating and refuses a
symlink in its place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(f)`` on a new private temporary file, then put it in place of ``path`` in one step."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def open_nofollow(path: str | os.PathLike, mode: str) -> IO:
    """``open(path, mode)`` for "a", "rb+" or "w" (text or binary), refusing a symlink (ELOOP) in its place."""
    flags = {
        "a": os.O_WRONLY | os.O_APPEND | os.O_CREAT,
        "ab": os.O_WRONLY | os.O_APPEND | os.O_CREAT,
        "rb+": os.O_RDWR,
        "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    }[mode]
    fd = os.open(path, flags | NOFOLLOW, 0o600)
    try:
        return os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))
    except BaseException:
        os.close(fd)
        raise


def fsync_dir(directory: str | os.PathLike) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
