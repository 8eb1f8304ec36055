"""The comparison screen (ui/screens/compare.py, CompareApp) driven by Pilot: ten runs overlaid, the x axis and
the set switched by key, a live run gaining points, a sweep directory gaining runs, and comparing from the runs
screen (mark with space, compare with c, back with escape)."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import pytest
from textual.widgets import DataTable

from mnist_tui.runs.rundir import RunDirectory
from mnist_tui.ui.apps.compare_app import CompareApp
from mnist_tui.ui.apps.runs_app import RunsApp
from mnist_tui.ui.screens.compare import CompareScreen
from mnist_tui.ui.widgets.compare_legend import CompareLegend

from helpers import ui
from helpers.compared import finished_runs, with_config

wait_for = partial(ui.wait_for, timeout=30.0)
SIZE = (120, 40)


@pytest.fixture
def runs(tmp_path_factory, synthetic_dir, tmp_path) -> list[Path]:
    return finished_runs(tmp_path_factory, synthetic_dir, tmp_path / "made")


def ten_runs(runs: list[Path], root: Path) -> list[Path]:
    """Ten runs in ``root`` (r0..r9), copies of the two made ones, each with its own seed."""
    out = []
    for i in range(10):
        run_dir = root / f"r{i}"
        shutil.copytree(runs[i % 2], run_dir)
        with_config(run_dir, seed=100 + i)
        out.append(run_dir)
    return out


def legend_text(screen: CompareScreen) -> str:
    return str(screen.query_one(CompareLegend).render())


def column(table: DataTable, name: str) -> list[str]:
    return [str(cell) for cell in table.get_column(name)]


@ui.run_async
async def test_ten_runs_overlay_each_in_its_own_colour_with_a_legend_and_a_table(runs, tmp_path):
    ten_runs(runs, tmp_path / "sweep")
    app = CompareApp([str(tmp_path / "sweep")])
    async with app.run_test(size=SIZE) as pilot:
        screen = app.compare
        await wait_for(pilot, lambda: len(screen.runs) == 10 and screen.loss_chart.lines == 10)
        await wait_for(pilot, lambda: screen.accuracy_chart.lines == 10)
        assert [r.label for r in screen.runs] == [f"r{i}" for i in range(10)]
        colours = [screen.loss_chart.run_colour(i) for i in range(10)]
        assert len(set(colours)) == 10 and all(isinstance(c, tuple) for c in colours)  # app.tcss's own ten
        legend = legend_text(screen)
        assert all(f"━━ r{i}" in legend for i in range(10)), legend
        table = screen.table
        assert table.row_count == 10
        assert [str(c.label) for c in table.columns.values()] == [
            "run", "val", "test", "end", "time", "device", "lr", "seed"
        ]  # fmt: skip
        assert column(table, "seed") == [str(100 + i) for i in range(10)]
        assert set(column(table, "end")) == {"completed"}
        label = table.get_cell_at((3, 0))
        r, g, b = colours[3]
        assert label.spans[0].style == f"bold #{r:02x}{g:02x}{b:02x}"  # the table's key is the legend's
        assert "10 runs" in str(screen.query_one("#compare-title").render())
        assert "Loss · validation" in screen.loss_chart.border_title
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


@ui.run_async
async def test_keys_switch_the_x_axis_and_the_set(runs):
    app = CompareApp([str(p) for p in runs])
    async with app.run_test(size=SIZE) as pilot:
        screen = app.compare
        await wait_for(pilot, lambda: len(screen.runs) == 2 and screen.loss_chart.lines == 2)
        chart, run = screen.loss_chart, screen.runs[0]
        points = run.points("validation")
        assert chart.curve(run)[0] == [p.iteration for p in points]
        assert chart.border_subtitle == "x: iteration"
        await pilot.press("x")
        assert chart.axis == screen.accuracy_chart.axis == "epoch"
        assert chart.curve(run)[0] == [p.epoch for p in points]
        assert chart.border_subtitle == "x: epoch"
        await pilot.press("x")
        assert chart.curve(run)[0] == [p.wall for p in points]
        assert chart.border_subtitle == "x: wall time (s)"
        await pilot.press("x")
        assert chart.axis == "iteration"

        await pilot.press("s")
        assert chart.split == screen.accuracy_chart.split == "test"
        assert chart.curve(run)[0] == [p.iteration for p in run.points("test")]
        assert "Accuracy · test" in screen.accuracy_chart.border_title
        await pilot.press("s")
        assert chart.split == "train" and "training (smoothed)" in chart.border_title
        assert len(chart.curve(run)[0]) == 12  # a point a step
        assert screen.accuracy_chart.split == "validation"  # training has no accuracy: the chart keeps validation
        assert chart.lines == 2
        await pilot.press("s")
        assert chart.split == "validation"


@ui.run_async
async def test_a_live_run_gains_points_and_ends(runs, tmp_path):
    source = runs[0]
    lines = (source / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    live = tmp_path / "live"
    live.mkdir()
    (live / "config.json").write_bytes((source / "config.json").read_bytes())
    RunDirectory(live).write_process(mode="foreground")  # this process trains it, as far as anyone can tell
    first_eval = next(i for i, line in enumerate(lines) if b'"evaluation"' in line)
    (live / "metrics.jsonl").write_bytes(b"".join(lines[: first_eval + 1]))

    app = CompareApp([str(live), str(runs[1])], poll_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.compare
        await wait_for(pilot, lambda: len(screen.runs) == 2 and screen.loss_chart.lines == 2)
        run = screen.runs[0]
        assert run.alive and len(run.evaluations) == 1
        assert column(screen.table, "end")[0].startswith("running")
        assert "live ▶" in legend_text(screen)
        assert "1 training" in str(screen.query_one("#compare-title").render())

        with open(live / "metrics.jsonl", "ab") as f:
            f.write(b"".join(lines[first_eval + 1 :]))
        total = sum(b'"evaluation"' in line for line in lines)
        await wait_for(pilot, lambda: len(run.evaluations) == total and not run.alive)
        await wait_for(pilot, lambda: column(screen.table, "end")[0] == "completed")
        assert "▶" not in legend_text(screen)
        redraws = screen.loss_chart.redraws
        await wait_for(pilot, lambda: screen.loss_chart.redraws > redraws)
        assert len(screen.loss_chart.curve(run)[0]) == len(run.points("validation")) > 1


@ui.run_async
async def test_a_sweep_directory_gains_the_runs_that_appear_in_it(runs, tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    app = CompareApp([str(sweep)], poll_seconds=0.05, rescan_seconds=0.05, banner="sweep: 0 of 2 runs done")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.compare
        await wait_for(pilot, lambda: screen.reads >= 2)
        assert screen.runs == []
        assert "No runs" in str(screen.query_one("#compare-title").render())
        assert "0 of 2" in str(screen.query_one("#compare-banner").render())
        (sweep / "b").mkdir()  # a run being set up: not a run until its config.json is there
        await wait_for(pilot, lambda: screen.reads >= 4)
        assert screen.runs == []
        shutil.rmtree(sweep / "b")
        shutil.copytree(runs[0], sweep / "a")
        await wait_for(pilot, lambda: [r.label for r in screen.runs] == ["a"])
        app.set_banner("sweep: 1 of 2 runs done")
        shutil.copytree(runs[1], sweep / "b")
        await wait_for(pilot, lambda: [r.label for r in screen.runs] == ["a", "b"])
        await wait_for(pilot, lambda: screen.table.row_count == 2 and screen.loss_chart.lines == 2)
        assert "1 of 2" in str(screen.query_one("#compare-banner").render())


@ui.run_async
async def test_runs_of_different_data_sets_show_a_warning(runs):
    with_config(runs[1], dataset="fashion-mnist")
    app = CompareApp([str(runs[0].parent)])
    async with app.run_test(size=SIZE) as pilot:
        screen = app.compare
        await wait_for(pilot, lambda: len(screen.runs) == 2)
        warning = screen.query_one("#compare-warning")
        assert warning.display and "different data sets" in str(warning.render())


@ui.run_async
async def test_the_runs_screen_marks_runs_and_compares_them(runs, tmp_path):
    root = runs[0].parent
    shutil.copytree(runs[0], root / "c")
    app = RunsApp([str(root)])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.table.row_count == 3)
        listed = [str(r.path) for r in app.runs]
        await pilot.press("space")  # marks the first; the cursor moves to the second
        await pilot.press("down", "space")  # marks the third
        assert app.marked == {listed[0], listed[2]}
        assert app.table.show_row_labels
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        assert screen.paths == [listed[0], listed[2]]
        await wait_for(pilot, lambda: len(screen.runs) == 2 and screen.loss_chart.lines == 2)
        await pilot.press("escape")  # back to the list, marks kept
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        assert app.is_running and app.table.row_count == 3 and app.marked == {listed[0], listed[2]}
        await pilot.press("space")  # the cursor is on the third: unmarks it
        await pilot.press("space")  # and marks nothing further (it stays on the last row): marks it again
        await pilot.press("up", "space")
        assert app.marked == {listed[0], listed[1], listed[2]}
        app.marked.clear()
        await pilot.press("c")  # nothing marked: compares the run under the cursor
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert len(app.screen.paths) == 1
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_value is None
