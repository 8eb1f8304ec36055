"""Rough use: resizing down to 40x12 and back, and random key sequences, while a scripted run goes on."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_tui.engine import events as ev
from helpers.scripted import DemoRun
from helpers.ui import SIZE, make_app, run_async, wait_for

KEYS = ["p", "space", "c", "d", "e", "l", "m", "question_mark", "escape", "tab", "enter", "up", "down",
        "left", "right", "j", "k", "t", "x", "r", "v", "1", "0", "backspace", "ctrl+p"]  # fmt: skip


@run_async
async def test_resizing_down_to_40x12_and_back_keeps_the_app_alive(tmp_path):
    app = make_app(DemoRun(epochs=2, step_delay=0.005, run_dir=str(tmp_path)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.run_state == ev.RunState.RUNNING)
        for size in [(80, 24), (60, 16), (40, 12), (200, 60), (40, 12), SIZE]:
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda: app.screen.size == size)
        await wait_for(pilot, lambda: app.finished is not None, timeout=30)
        assert app.run_state == ev.RunState.FINISHED
        assert app.is_running  # still up after every size


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.lists(st.sampled_from(KEYS), min_size=5, max_size=25))
def test_random_keys_during_a_run_never_crash_the_app(keys, tmp_path_factory):
    async def scenario():
        app = make_app(DemoRun(epochs=2, step_delay=0.01, run_dir=str(tmp_path_factory.mktemp("run"))))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.run_state in (ev.RunState.RUNNING, ev.RunState.PAUSED))
            for key in keys:
                await pilot.press(key)
            # Whatever was pressed, the run can still be brought to a clean end.
            while len(app.screen_stack) > 1:
                await pilot.press("escape")
            app.control.resume()
            app.control.stop()
            await wait_for(pilot, lambda: app.finished is not None, timeout=30)
            assert app.is_running

    asyncio.run(asyncio.wait_for(scenario(), timeout=120))
