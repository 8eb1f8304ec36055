"""Helpers for app tests: fixed device statistics, an app on a scripted source, waiting on a condition."""

from __future__ import annotations

import asyncio
import functools

from textual.command import CommandList, CommandPalette

from mnist_tui.runs.devstats import DeviceStats
from mnist_tui.ui.live.app import MnistApp

STATS = DeviceStats(
    cpu_percent=42.0,
    cpu_count=2,
    torch_threads=2,
    process_threads=9,
    process_rss=812 * 2**20,
    process_cpu_percent=180.0,
    system_memory_used=3 * 2**30,
    system_memory_total=8 * 2**30,
)
SIZE = (120, 40)


def run_async(test):
    """Run an async test on its own event loop (the suite needs no async pytest plugin)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), timeout=60))

    return wrapper


def make_app(source, **kwargs) -> MnistApp:
    kwargs.setdefault("stats_reader", lambda device: STATS)
    return MnistApp(source, **kwargs)


async def wait_for(pilot, predicate, timeout: float = 10.0, explain=None) -> None:
    """Let the app run until ``predicate()`` holds; past ``timeout`` seconds fail, with ``explain()`` if given."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app" + (f": {explain()}" if explain else ""))
        await pilot.pause(0.01)


def palette_offers(app: MnistApp, title: str) -> bool:
    """The command palette is open and ``title`` is its highlighted command (enter runs it)."""
    screen = app.screen
    if not isinstance(screen, CommandPalette):
        return False
    option = screen.query_one(CommandList).highlighted_option
    return option is not None and title in str(option.prompt)


def settled(app: MnistApp) -> bool:
    """Nothing on the screen is still on its way: the device statistics read (once the run started), and
    the run log, where it shows, has written every line and scrolled to the last."""
    log = app.run_log
    return (app.device_panel.stats is not None or app.run_started is None) and (
        not log.display or (len(log.lines) >= len(log.lines_added) and log.scroll_y == log.max_scroll_y)
    )


def footer_actions(app) -> set[str]:
    """The actions whose keys the footer shows now, by name (without their parameters)."""
    return {
        b.binding.action.split("(")[0] for b in app.screen.active_bindings.values() if b.enabled and b.binding.show
    }
