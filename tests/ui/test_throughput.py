"""The speed and time left the device panel shows are steadied over the last half minute of the run's own
training clock: single metrics windows that an evaluation or a checkpoint landed in (the tutorial recipe read
172, then 1,521 img/s within 24 s) no longer swing them."""

from __future__ import annotations

import pytest

from mnist_tui.engine import events as ev
from mnist_tui.ui.common import format as fmt
from mnist_tui.runs.throughput import WINDOW, Throughput

from helpers.scripted import DemoRun
from helpers.ui import SIZE, make_app, run_async, wait_for

BATCH = 100


def readings(start: int = 0, windows: int = 60, *, elapsed: float = 0.0):
    """What a run training 1,000 img/s reports: a StepMetrics every 5 steps (0.5 s of training), and every 4th
    window an evaluation of 1 s inside it. The engine's figure of each window swings as it does on a shared
    machine: a window an evaluation lands in reads slow or fast, one after it the other way.
    Yields ("step", iteration, elapsed, engine's img/s) and ("eval", seconds)."""
    iteration = start
    swings = (1000.0, 172.0, 1521.0, 980.0)
    for k in range(windows):
        iteration += 5
        elapsed += 0.5
        if k % 4 == 1:
            yield ("eval", 1.0)
            elapsed += 1.0
        yield ("step", iteration, elapsed, swings[k % 4])


def feed(throughput: Throughput, events) -> list[tuple[float | None, float | None]]:
    """(speed, eta for 1,000 steps left) after each step."""
    shown = []
    for event in events:
        if event[0] == "eval":
            throughput.evaluated(event[1])
        else:
            _, iteration, elapsed, raw = event
            throughput.step(iteration, elapsed, raw)
            shown.append((throughput.speed(BATCH), throughput.eta(1000, BATCH)))
    return shown


def test_the_speed_is_steady_where_single_windows_swing():
    shown = feed(Throughput(), readings())
    settled = [speed for speed, _ in shown[8:]]  # once a few evaluations are in the span
    assert all(980 <= speed <= 1020 for speed in settled), settled
    assert fmt.rate(settled[-1]) == "1,000 img/s"


def test_the_time_left_counts_the_evaluations_still_to_come():
    """Every 4 windows: 20 steps in 2 s of training and 1 s of evaluation, so 1,000 steps take 150 s, not 100."""
    shown = feed(Throughput(), readings())
    etas = [eta for _, eta in shown[40:]]  # the span is a whole WINDOW: 10 evaluations in it, give or take one
    assert all(145 <= eta <= 155 for eta in etas), etas
    assert fmt.duration(etas[-1]) == "2:30"


def test_it_answers_from_the_last_window_of_training_only():
    """A change of speed is fully seen once it has lasted ``WINDOW`` seconds of the run's clock."""
    throughput = Throughput()
    elapsed, iteration = 0.0, 0
    for _ in range(int(WINDOW)):  # 1,000 img/s
        iteration, elapsed = iteration + 10, elapsed + 1.0
        throughput.step(iteration, elapsed)
    for _ in range(int(WINDOW) + 1):  # then 2,000 img/s
        iteration, elapsed = iteration + 20, elapsed + 1.0
        throughput.step(iteration, elapsed)
    assert throughput.speed(BATCH) == pytest.approx(2000.0)


def test_before_two_readings_it_gives_the_engines_figure_and_nothing_without_one():
    throughput = Throughput()
    assert throughput.speed(BATCH) is None and throughput.eta(100, BATCH) is None
    throughput.step(5, 0.5, 1000.0)
    assert throughput.speed(BATCH) == 1000.0 and throughput.eta(100, BATCH) == 10.0
    assert throughput.eta(0, BATCH) == 0.0


def test_a_run_that_goes_back_starts_over():
    """Resumed from an earlier checkpoint: its iterations and clock go back; the old readings no longer count."""
    throughput = Throughput()
    feed(throughput, readings(windows=20))
    throughput.step(50, 5.0, 4000.0)
    assert throughput.speed(BATCH) == 4000.0  # the one reading since: the engine's figure
    throughput.step(70, 5.5)
    assert throughput.speed(BATCH) == pytest.approx(4000.0)


@run_async
async def test_the_device_panel_shows_the_steadied_speed_and_time_left():
    """The screen passes the steadied figures down: the last window read 172 img/s, the panel still says the
    run's 1,000 img/s and the time left at that pace with its evaluations."""
    run = DemoRun(hold_at=20, steps_per_epoch=600, epochs=1)  # 600 steps of batch 100
    app = make_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20)
        screen = app.training
        for event in readings(start=20, windows=80, elapsed=20 * run.seconds_per_step):
            if event[0] == "eval":
                screen.show(ev.Evaluation(0, 1, ev.TEST, 0.5, 0.9, 9, 10, None, None, event[1]))
            else:
                _, iteration, elapsed, raw = event
                screen.show(ev.StepMetrics(iteration, 1, iteration, (0.5,) * 5, 3e-4, raw, elapsed))
        screen.show(ev.StepMetrics(425, 1, 425, (0.5,) * 5, 3e-4, 172.0, 20 * run.seconds_per_step + 60.5))
        screen._numbers.flush()
        await pilot.pause()
        speed = dict(app.device_panel.visible_rows(20))["speed"]
        # 175 steps left at 20 steps per 3 s of the run's clock: 26 s
        assert speed in ("1,000 img/s · ETA 0:26", "1,000 img/s · ETA 0:27"), speed
