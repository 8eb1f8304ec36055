"""The list of runs tells runs apart at any width and shows each ended run's final test accuracy.

Two runs of a sweep differ only at the end of their directories (``.../20261206-143934-sweep-.../seed=0`` and
``seed=1``): the directory is shortened in the middle, never cut at its end, in the runs screen and in
``mnist-tui runs --headless`` at 80 and 120 columns; a pipe still gets every path whole. The test column is the
summary's final test accuracy (runs without a validation set had only '-' to show)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from mnist_tui.runs.catalogue import ELLIPSIS, list_runs, shorten_middle
from mnist_tui.ui.apps.runs_app import RunsApp

from helpers.cli import mnist_tui
from helpers.ui import run_async

SWEEP = "20261206-143934-sweep-lr=0.002-batch=50-augment=none"
TEST_ACCURACY = {"seed=0": 0.9876, "seed=1": 0.4321}  # written into each run's summary.json


@pytest.fixture(scope="module")
def runs_root(synthetic_dir, tmp_path_factory):
    """The runs directory (as MNIST_TUI_DATA_DIR makes it), holding a sweep of two runs without a validation set."""
    data = tmp_path_factory.mktemp("data")
    sweep = data / "runs" / SWEEP
    for name, accuracy in TEST_ACCURACY.items():
        run = sweep / name
        trained = mnist_tui(
            "--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50", "--max-steps",
            "4", "--eval-every", "2", "--val-split", "0", "--no-early-stopping", "--no-restore-best",
            "--run-dir", str(run),
        )  # fmt: skip  (no validation set, as the fast and best presets)
        assert trained.returncode == 0, trained.stderr
        summary = json.loads((run / "summary.json").read_text())
        summary["final_test_accuracy"] = accuracy
        (run / "summary.json").write_text(json.dumps(summary))
    (sweep / "sweep.json").write_text("{}")
    return data


@pytest.fixture
def in_runs_root(runs_root, monkeypatch):
    monkeypatch.setenv("MNIST_TUI_DATA_DIR", str(runs_root))
    return runs_root


def told_apart(directories: list[str]) -> None:
    assert len(directories) == 2 and len(set(directories)) == 2, directories
    assert sorted(d[-6:] for d in directories) == ["seed=0", "seed=1"], directories  # the end is kept


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@run_async
async def test_the_runs_screen_tells_sweep_runs_apart_and_shows_their_test_accuracy(in_runs_root, size):
    app = RunsApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.table
        columns = [column.label.plain for column in table.columns.values()]
        rows = [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]
        directories = [row[columns.index("directory")] for row in rows]
        told_apart(directories)
        assert all(d.startswith("runs/2026") for d in directories), directories  # the root's name, then the run
        assert sum(column.get_render_width(table) for column in table.columns.values()) <= size[0]
        shown = {row[columns.index("directory")][-6:]: row[columns.index("test")] for row in rows}
        assert shown == {"seed=0": "98.76%", "seed=1": "43.21%"}
        assert all(row[columns.index("best val")] == "-" for row in rows)  # no validation set: nothing to show


@pytest.mark.parametrize("width", [80, 120])
def test_runs_headless_in_a_terminal_tells_sweep_runs_apart(in_runs_root, width):
    """The real command in a terminal (a pseudo-terminal ``width`` columns wide)."""
    main, sub = pty.openpty()
    env = dict(os.environ, COLUMNS=str(width), LINES="40", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    with subprocess.Popen(
        [sys.executable, "-m", "mnist_tui", "runs", "--headless"], stdin=sub, stdout=sub, stderr=sub, env=env
    ) as proc:
        os.close(sub)
        out = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=60) == 0, out
    os.close(main)
    text = _plain(out.decode())
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    rows = [line for line in lines if "finished" in line]
    told_apart([line.rstrip(" │┃|").split()[-1] for line in rows])
    assert any("98.76%" in row and row.rstrip(" │").endswith("seed=0") for row in rows), text
    assert any("43.21%" in row and row.rstrip(" │").endswith("seed=1") for row in rows), text


def _plain(text: str) -> str:
    """Terminal output without its escape sequences (colours, styles)."""
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r", "", text)


def test_runs_in_a_pipe_shows_every_path_whole(in_runs_root):
    result = mnist_tui("runs", env_extra={"MNIST_TUI_DATA_DIR": str(in_runs_root), "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    for run in list_runs():
        line = next(line for line in result.stdout.splitlines() if str(run.path) in line)
        assert f"{100 * TEST_ACCURACY[run.path.name]:.2f}%" in line


def test_shorten_middle_keeps_the_end():
    path = f"runs/{SWEEP}/seed=1"
    assert shorten_middle(path, len(path)) == path
    short = shorten_middle(path, 24)
    assert len(short) == 24 and short.startswith("runs/") and short.endswith("batch=50-augment=none/seed=1"[-16:])
    assert ELLIPSIS in short
    assert shorten_middle("数字数字数字数字/seed=1", 12).endswith("seed=1")  # wide characters count twice
