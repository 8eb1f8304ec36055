"""The sweep's screen answers Ctrl+C as q: the sweep stops, its run saves and can resume (ui/apps/sweep_app.py).
Textual's own Ctrl+C only says "Press ctrl+q to quit" and leaves the sweep training."""

from __future__ import annotations

from helpers.ui import run_async, wait_for

from mnist_tui.runs import sweep as sw
from mnist_tui.ui.apps.sweep_app import SweepApp

SIZE = (120, 40)


@run_async
async def test_ctrl_c_stops_the_sweep_as_q_does(synthetic_dir, tmp_path):
    sweep = sw.SweepDirectory(tmp_path / "sweep")
    options = ("--dataset", str(synthetic_dir), "--device", "cpu", "--threads", "1", "--batch-size", "50",
               "--eval-every", "4", "--epochs", "300")  # fmt: skip
    runs = tuple(sw.PlannedRun(i, f"seed={i}", i, (), (*options, "--seed", str(i)), {}) for i in (0, 1))
    sweep.write_plan(sw.SweepPlan(options, (0, 1), (), runs))
    runner = sw.SweepRunner(sweep, runs, poll=0.1)
    app = SweepApp(runner)
    first = sweep.path / "seed=0"
    try:
        async with app.run_test(size=SIZE) as pilot:
            metrics = first / "metrics.jsonl"
            await wait_for(pilot, lambda: metrics.exists() and b'"event":"evaluation"' in metrics.read_bytes(), 50)
            await pilot.press("ctrl+c")
            await wait_for(pilot, lambda: app.return_code is not None, 10, lambda: "the app still runs")
    finally:
        app.stop_and_wait()
    assert sw.run_status(first)[0] == sw.Status.INTERRUPTED  # it saved, and the same command resumes it
    assert sw.run_status(sweep.path / "seed=1")[0] == sw.Status.MISSING
