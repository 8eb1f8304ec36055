"""App-level messages: what the background workers post to the app (thread-safe ``post_message``)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ...runs.devstats import DeviceStats
from ...engine.events import Event


@dataclass
class EngineEvent(Message):
    """One event from the training worker, in the order the trainer yielded it."""

    event: Event


@dataclass
class DeviceStatsRead(Message):
    """A device statistics reading from the stats worker (about once a second)."""

    device: str
    stats: DeviceStats
