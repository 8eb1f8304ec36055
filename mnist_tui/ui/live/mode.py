"""What the live app is to the run it shows (``MnistApp(mode=...)``)."""

from __future__ import annotations

from enum import Enum


class AppMode(str, Enum):
    """Where the run trains, which decides what quitting does and which keys apply."""

    __str__ = str.__str__

    TRAIN = "train"  # the run trains in this process: quitting stops it (it saves first)
    TRAIN_DETACHABLE = "train-detachable"  # ... and quitting may hand it to a background process instead
    VIEW = "view"  # attached to a run another process trains: every key works, quitting leaves the run going
    HISTORY = "history"  # read-only: a run that has ended, or its metrics file followed; quitting just leaves
