"""The sweep in the compare view (ui/apps/sweep_app.py), driven by Pilot over real runs: the banner follows the
sweep, the runs join the view as they start, and q stops the sweep with its run saved and resumable."""

from __future__ import annotations

from pathlib import Path

from helpers.ui import run_async, wait_for
from textual.widgets import DataTable

from mnist_tui.runs import sweep as sw
from mnist_tui.ui.apps.sweep_app import SweepApp

SIZE = (120, 40)


def plan(synthetic_dir: Path, sweep: sw.SweepDirectory) -> sw.SweepPlan:
    options = ("--dataset", str(synthetic_dir), "--device", "cpu", "--threads", "1", "--batch-size", "50",
               "--eval-every", "4", "--epochs", "300")  # fmt: skip
    runs = tuple(sw.PlannedRun(i, f"seed={i}", i, (), (*options, "--seed", str(i)), {}) for i in (0, 1))
    plan = sw.SweepPlan(options, (0, 1), (), runs)
    sweep.write_plan(plan)
    return plan


def recorded(run: Path, event: str) -> bool:
    metrics = run / "metrics.jsonl"
    return metrics.exists() and f'"event":"{event}"'.encode() in metrics.read_bytes()


@run_async
async def test_the_sweep_shows_in_the_compare_view_and_q_stops_it(synthetic_dir, tmp_path):
    sweep = sw.SweepDirectory(tmp_path / "sweep")
    runner = sw.SweepRunner(sweep, plan(synthetic_dir, sweep).runs, poll=0.1)
    app = SweepApp(runner)
    first = sweep.path / "seed=0"
    try:
        async with app.run_test(size=SIZE) as pilot:
            banner = lambda: app.compare.banner
            await wait_for(pilot, lambda: "training seed=0" in banner(), 50, banner)
            assert "0 of 2 runs finished" in banner() and "q stops the sweep" in banner()
            await wait_for(pilot, lambda: recorded(first, "evaluation"), 50)
            table = app.screen.query_one("#compare-table", DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, 10)  # the run joined the view as it started
            await pilot.press("q")
    finally:
        app.stop_and_wait()  # the sweep stops: its run saves
    assert sw.run_status(first)[0] == sw.Status.INTERRUPTED
    assert sw.run_status(sweep.path / "seed=1")[0] == sw.Status.MISSING  # nothing more started
    assert runner.stopping and app.tally.finished == 0 and app.tally.exit_code(stopped=True) == 130
