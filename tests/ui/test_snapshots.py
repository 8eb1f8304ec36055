"""SVG snapshots of the screen at 120x40 (pytest-textual-snapshot), deterministic.

Everything on screen comes from a seeded scripted run and fixed device statistics: elapsed time and
throughput are the events' own numbers, no wall clock is shown. A picture is taken of a settled screen
(``helpers.ui.settled``): however fast the machine, nothing is still on its way. Update with
``--snapshot-update`` after checking the new pictures.
"""

from __future__ import annotations

import threading

from mnist_tui.engine import events as ev
from mnist_tui.ui.live.app import MnistApp
from helpers.scripted import DemoRun
from helpers.ui import SIZE, STATS, settled, wait_for



def make_app(source: DemoRun) -> MnistApp:
    return MnistApp(source, stats_reader=lambda device: STATS, clock=lambda: 0.0)


def settle(until):
    """A run_before hook: wait for ``until(app)`` and a settled screen, then draw the charts and clear the toasts."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: until(app) and settled(app), timeout=30)
        app.loss_chart.redraw()
        app.accuracy_chart.redraw()
        app.clear_notifications()
        await pilot.pause()

    return run_before


def test_snapshot_running(snap_compare):
    app = make_app(DemoRun(hold_at=75, run_dir="runs/demo"))
    assert snap_compare(app, terminal_size=SIZE, run_before=settle(lambda a: a.iteration == 75))


def test_snapshot_paused_with_training_digits(snap_compare):
    app = make_app(DemoRun(hold_at=100, run_dir="runs/demo"))

    async def pause_and_switch(pilot) -> None:
        await settle(lambda a: a.iteration == 100)(pilot)
        await pilot.press("p", "d")
        await settle(lambda a: a.run_state == ev.RunState.PAUSED)(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=pause_and_switch)


def test_snapshot_failed(snap_compare):
    app = make_app(DemoRun(fail_at=90, run_dir="runs/demo"))
    assert snap_compare(app, terminal_size=SIZE, run_before=settle(lambda a: a.trainer_done))


def test_snapshot_loading(snap_compare):
    gate = threading.Event()
    app = make_app(DemoRun(start_gate=gate, run_dir="runs/demo"))
    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=settle(lambda a: a.run_state == ev.RunState.LOADING))
    finally:
        gate.set()


def test_snapshot_quit_confirmation(snap_compare):
    app = make_app(DemoRun(hold_at=60, run_dir="runs/demo"))
    assert snap_compare(app, terminal_size=SIZE, press=["q"], run_before=settle(lambda a: a.iteration == 60))
