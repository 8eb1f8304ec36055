"""The screen over a slow link: --refresh slows every update and the status line says so; the numbers of many
steps are shown once per interval while the chart keeps every loss; a key shows its pending state at once."""

from __future__ import annotations

import threading

from helpers.scripted import DemoRun
from helpers.ui import SIZE, make_app, palette_offers, run_async, wait_for

from mnist_tui.engine import events as ev
from mnist_tui.ui.common.refresh import DEFAULT_REFRESH, next_rate


def text(app, selector: str) -> str:
    return str(app.status.query_one(selector).render())


def step(last: int) -> ev.StepMetrics:
    return ev.StepMetrics(last, 1, last, (0.5,) * 5, lr=3e-4, images_per_second=5e3, elapsed=float(last))


@run_async
async def test_refresh_slows_the_charts_and_the_status_line_shows_it():
    app = make_app(DemoRun(hold_at=10), refresh=5.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        assert app.loss_chart.redraw_seconds == app.accuracy_chart.redraw_seconds == 10.0  # twice the rate
        assert text(app, "#status-refresh") == "refresh 5 s"


@run_async
async def test_the_default_rate_is_not_mentioned():
    app = make_app(DemoRun(hold_at=10))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        assert app.loss_chart.redraw_seconds == 2 * DEFAULT_REFRESH
        assert text(app, "#status-refresh") == ""


@run_async
async def test_the_palette_steps_through_the_rates():
    app = make_app(DemoRun(hold_at=10))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        await pilot.press("ctrl+p")
        await pilot.press(*"refresh rate")
        await wait_for(pilot, lambda: palette_offers(app, "Refresh rate"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: text(app, "#status-refresh") == "refresh 2 s")
        assert app.loss_chart.redraw_seconds == 4.0
        for expected in ("refresh 5 s", "refresh 10 s", "refresh 0.5 s", ""):  # r: the same, by key
            await pilot.press("r")
            await wait_for(pilot, lambda expected=expected: text(app, "#status-refresh") == expected)
        assert app.training.refresh_seconds == DEFAULT_REFRESH
    assert next_rate(3.0) == 5.0  # a rate given with --refresh steps to the next slower one


@run_async
async def test_numbers_show_once_per_interval_and_the_chart_keeps_every_loss():
    app = make_app(DemoRun(hold_at=10))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        app.training.set_refresh(60.0)  # the numbers were just shown: the next wait a minute
        before = len(app.loss_chart.raw)
        for last in range(15, 41, 5):  # no timer can fire in between
            app.training.show(step(last))
        assert app.status.iteration == 10 and text(app, "#status-elapsed") != "elapsed 0:40"  # not yet
        assert len(app.loss_chart.raw) == before + 30  # every loss is in the chart
        app.training.show(ev.Log("an event of another kind"))  # shows the latest numbers first
        assert app.status.iteration == 40 and text(app, "#status-elapsed") == "elapsed 0:40"


@run_async
async def test_pausing_shows_at_once_and_paused_when_the_step_ends():
    gate = threading.Event()  # the "step" in progress when p is pressed ends when the test says

    def busy(control):
        for event in DemoRun()(control):
            yield event
            if isinstance(event, ev.StepMetrics) and event.iteration >= 10:
                gate.wait(30)

    app = make_app(busy)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration >= 10 and app.run_state == ev.RunState.RUNNING)
        await pilot.press("p")
        assert text(app, "#status-state") == "PAUSING…" and "pausing after this step" in text(app, "#status-message")
        assert app.run_state == ev.RunState.RUNNING  # the run has not answered yet
        gate.set()
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        assert text(app, "#status-state") == "PAUSED" and app.status.pending is None


@run_async
async def test_a_form_key_is_acknowledged_before_the_form_is_built():
    app = make_app(DemoRun(hold_at=10))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        app.action_early_stopping()  # as the key does, without Pilot waiting for the app to settle
        assert text(app, "#status-message") == "opening the early-stopping settings…"
        app.action_early_stopping()  # pressed twice while it opens: one form
        await wait_for(pilot, lambda: type(app.screen).__name__ == "EarlyStoppingForm")
        await pilot.pause()
        assert len(app.screen_stack) == 2 and "opening" not in text(app, "#status-message")
