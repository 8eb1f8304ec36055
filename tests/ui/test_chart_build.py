"""What keeps the UI thread free for keys: the charts build their figures off it when their timer redraws them
(run_chart.py), a build that finishes late never replaces a newer one, and the app in a terminal freezes its
start-up heap so that full collections no longer walk it (heap.py)."""

from __future__ import annotations

import gc
import threading

from helpers.scripted import DemoRun
from helpers.ui import SIZE, make_app, run_async, wait_for
from rich.text import Text

from mnist_tui.engine import events as ev
from mnist_tui.ui.live import heap
from mnist_tui.ui.widgets.run_chart import BuiltPlot


def hold(at: int) -> DemoRun:
    return DemoRun(hold_at=at, run_dir="runs/demo")


@run_async
async def test_the_timer_builds_the_figure_in_a_thread_and_the_ui_answers_meanwhile():
    app = make_app(hold(100))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 100)
        chart = app.loss_chart
        building, release, built_on = threading.Event(), threading.Event(), []

        def slow_build(plot_build):
            def build():
                built_on.append(threading.current_thread())
                building.set()
                release.wait(10)  # held until the UI has shown that it answers
                return plot_build()

            return build

        chart.mark_dirty()
        plot, built_for = chart._draw()
        plot.build = slow_build(plot.build)
        chart.run_worker(lambda: chart._build_in_thread(plot, built_for), thread=True, group="chart-build")
        await wait_for(pilot, building.is_set)
        assert built_on[0] is not threading.main_thread()
        shown_before = chart._built

        await pilot.press("p")  # the UI thread is free: the key takes effect while the figure is being built
        await wait_for(pilot, lambda: app.control.paused)
        assert chart._built is shown_before  # still the figure before, until the build arrives
        release.set()
        await wait_for(pilot, lambda: chart._built is not None and chart._built.redraw == built_for[0])


@run_async
async def test_a_late_build_never_replaces_a_newer_figure():
    app = make_app(hold(60))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 60)
        chart = app.accuracy_chart
        chart.redraw()
        newest = chart._built
        chart._accept(BuiltPlot(newest.redraw - 1, newest.size, Text("an older figure")))
        assert chart._built is newest
        chart.post_message(chart.Built(BuiltPlot(newest.redraw + 1, newest.size, Text("a newer figure"))))
        await wait_for(pilot, lambda: chart._built.text.plain == "a newer figure")


@run_async
async def test_the_timer_redraw_shows_new_points():
    app = make_app(hold(100))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 100)
        chart = app.loss_chart
        chart.redraw()
        before = chart._built
        app.training.show(ev.StepMetrics(101, 1, 101, (0.25,), lr=3e-4, images_per_second=5e3, elapsed=1.0))
        chart.redraw_if_dirty()
        await wait_for(pilot, lambda: chart._built is not before and chart._built.redraw == chart.redraws)
        assert chart._built.size == chart.size


@run_async
async def test_the_app_in_a_terminal_freezes_its_start_up_heap_once_the_run_starts():
    """heap.py: what start-up left alive is out of later full collections, which walked it on the UI thread."""
    app = make_app(hold(20))
    app.settle_heap = True  # as run_in_terminal sets it
    frozen_before, thresholds = gc.get_freeze_count(), gc.get_threshold()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.iteration == 20)
            assert app.run_started is not None
            assert gc.get_freeze_count() > frozen_before
            assert gc.get_threshold()[2] == heap.FULL_AFTER and gc.get_threshold()[:2] == thresholds[:2]
            await pilot.press("p")
            await wait_for(pilot, lambda: app.control.paused)
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
        gc.set_threshold(*thresholds)
