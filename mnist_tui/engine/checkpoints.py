"""Checkpoints: written atomically, loaded safely, versioned.

A checkpoint is a plain dict of tensors and Python values, saved with ``torch.save`` to a temporary file
in the same directory, flushed and fsynced, then renamed over the old one, so a crash at any moment
leaves either the old complete file or the new complete file. Loading uses ``weights_only=True``.

A process killed mid-write (``kill -9``, power loss) leaves its temporary file behind (``.last.pt.XXXXXXXX.tmp``,
as big as a checkpoint). Only the one process that trains a run writes its checkpoints (it holds the run's lock),
so the next write into that directory, the run's resume or its next save, removes every such file it finds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .files import atomic_write

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "mnist-tui-checkpoint"
VERSION = 1
STALE_TEMPORARY = re.compile(r"\..+\.pt\.[A-Za-z0-9_]{8}\.tmp")  # atomic_write's name for a checkpoint being written


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` as a checkpoint atomically: the previous file stays whole until the new one is. What an
    earlier writer killed mid-write left in the directory goes first."""
    path = Path(path)
    remove_stale_temporaries(path.parent)
    payload = {"format": FORMAT, "version": VERSION, **state}
    return atomic_write(path, lambda f: torch.save(payload, f))


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary checkpoint files that writers killed mid-write left in ``directory``; those removed.
    Call it only as the directory's one writer (the process holding the run's lock)."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if STALE_TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)  # never follows a link: the name itself goes
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason[:160]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mnist-tui checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {state.get('version')} is not supported (this is {VERSION})"
        )
    return state
