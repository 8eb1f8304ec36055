"""The headless runner's progress bars show the same steadied speed and time left as the app's device panel
(runs/throughput.py), not the figure of the last metrics window alone."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from mnist_tui.console.headless import clock, show
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control

from helpers.scripted import DemoRun

SWINGS = (172.0, 1521.0, 980.0, 58.0)  # what single windows read on a busy machine


def test_the_progress_bar_shows_the_steadied_speed():
    """A run that trains 5,000 img/s on its own clock (batch 100, 0.02 s a step) whose windows read anything
    from 58 to 1,521 img/s, the last 58: the bar says 5,000 img/s."""
    run = DemoRun(steps_per_epoch=200, epochs=1, eval_every=1000)
    n = 0

    def swinging(events):
        nonlocal n
        for event in events:
            if isinstance(event, ev.RunStarted):  # the scripted run's config is short of what the runner prints
                event = dataclasses.replace(event, config={"model": "tutorial", "epochs": 1, **event.config})
            if isinstance(event, ev.StepMetrics):
                event = dataclasses.replace(event, images_per_second=SWINGS[n % len(SWINGS)])
                n += 1
            yield event

    out = io.StringIO()
    assert show(swinging(run(Control())), Console(file=out, width=200, soft_wrap=True)) == 0
    assert n > len(SWINGS) and SWINGS[(n - 1) % len(SWINGS)] == 58.0  # the last window read 58 img/s
    total = next(line for line in out.getvalue().splitlines() if line.startswith("total"))
    assert "5,000 img/s" in total and "58 img/s" not in total, total
    assert total.rstrip().endswith("0:00:00"), total  # done: nothing left


def test_clock():
    assert clock(None) == "-:--:--" and clock(float("nan")) == "-:--:--"
    assert clock(83.4) == "0:01:23" and clock(3 * 3600 + 5) == "3:00:05"
