"""Viewers: the live app on a run that another process trains, or on a run that has ended.

``attach_app`` picks the event source: the run's socket when its process serves one (every key works,
quitting leaves the run going), else its metrics.jsonl, followed while its process lives (read-only).
The screen is the same MnistApp, fed the same events, from the run's first one on.
"""

from __future__ import annotations

from typing import Any

from ...engine.control import Control
from ...runs.catalogue import RunInfo, recorded_events
from ...runs.client import RemoteRun
from ...runs.devstats import DeviceStats, read_device_stats
from ...runs.protocol import RemoteError
from .app import MnistApp
from .mode import AppMode
from .launch import run_in_terminal, screen_options
from ..common.refresh import DEFAULT_REFRESH


def attach_app(info: RunInfo, **options: Any) -> MnistApp:
    """The viewer of ``info``; ``options``: MnistApp's theme, bell and keymap (launch.screen_options)."""
    run_dir = str(info.path)
    if info.active and info.socket:
        try:
            remote = RemoteRun(info.socket, run_dir=info.path)
        except RemoteError:
            remote = None
        if remote is not None:
            app = MnistApp(
                lambda control: remote.events(),
                control=remote,
                stats_reader=lambda device: read_device_stats(device, pid=info.pid),
                run_dir=run_dir,
                mode=AppMode.VIEW,
                **options,
            )
            app.banner = (
                f"attached to the run in process {info.pid} ({info.mode}): every key works; q leaves it running"
            )
            return app
    follow = info.active
    app = MnistApp(
        lambda control: recorded_events(info.path, follow=follow),
        control=Control(),
        stats_reader=lambda device: read_device_stats(device, pid=info.pid) if follow else DeviceStats(),
        run_dir=run_dir,
        mode=AppMode.HISTORY,
        **options,
    )
    app.banner = (
        f"following {run_dir}/metrics.jsonl: its process has no socket, so this view is read-only"
        if follow
        else f"the run has ended ({info.state}): its history from metrics.jsonl"
    )
    return app


def run_viewer(info: RunInfo, *, theme: str | None = None, bell: bool = True, refresh: float = DEFAULT_REFRESH) -> int:
    """The viewer in this terminal until the user leaves it (the run goes on)."""
    return run_in_terminal(attach_app(info, **screen_options(theme, bell, refresh)))
