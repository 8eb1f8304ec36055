"""What the live app's two thread workers do: iterate the event source, and read device statistics.

Both only post messages (``post`` is the app's thread-safe ``post_message``); neither touches a widget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from ...engine import events as ev
from ...engine.control import RunControl
from ...runs.devstats import DeviceStats
from .messages import DeviceStatsRead, EngineEvent

EventSource = Callable[[RunControl], Iterable[ev.Event]]  # called with the app's control
StatsReader = Callable[[str], DeviceStats]
Post = Callable[..., object]


def run_source(source: EventSource, control: RunControl, post: Post) -> None:
    """Post every event of ``source``, in order; a source that raises or stops short ends with a failed run."""
    finished = False
    try:
        for event in source(control):
            finished = finished or isinstance(event, (ev.RunFinished, ev.RunDetached))
            post(EngineEvent(event))
    except Exception as exc:  # noqa: BLE001 - a crash shows as a failed run, never kills the app
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        post(EngineEvent(ev.RunFinished.failure(message)))
        finished = True
    if not finished:
        post(EngineEvent(ev.RunFinished.failure("the trainer ended without reporting a result")))


def poll_stats(reader: StatsReader, device: str, interval: float, stop: threading.Event, post: Post) -> None:
    """Post a reading of ``device`` every ``interval`` seconds until ``stop`` is set; a failed read is all N/A."""
    while True:
        try:
            stats = reader(device)
        except Exception:  # noqa: BLE001 - a reader that fails shows N/A everywhere
            stats = DeviceStats()
        post(DeviceStatsRead(device, stats))
        if stop.wait(interval):
            return
