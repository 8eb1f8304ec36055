"""``mnist-tui compare`` without a terminal: the table of what differs between runs, warnings, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import mnist_tui
from helpers.compared import finished_runs, with_config


@pytest.fixture
def runs(tmp_path_factory, synthetic_dir, tmp_path) -> list[Path]:
    return finished_runs(tmp_path_factory, synthetic_dir, tmp_path / "sweep")


def table_rows(stdout: str) -> list[list[str]]:
    """The cells of the rich table's rows (header first)."""
    return [[c.strip() for c in line.strip("│┃").split("│" if "│" in line else "┃")] for line in stdout.splitlines()
            if line.startswith(("│", "┃"))]  # fmt: skip


def test_the_table_shows_only_the_settings_that_differ_and_how_each_run_ended(runs):
    result = mnist_tui("compare", str(runs[0]), str(runs[1]), "--headless")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    header, a, b = table_rows(result.stdout)
    assert header == ["run", "val", "test", "end", "time", "device", "lr", "seed"]
    summaries = [json.loads((r / "summary.json").read_text()) for r in runs]
    assert a[0] == "a" and a[6:] == ["0.002", "1"] and b[0] == "b" and b[6:] == ["0.005", "2"]
    for row, summary in zip((a, b), summaries):
        assert row[1] == f"{summary['validation_accuracy']:.2%}"
        assert row[2] == f"{summary['final_test_accuracy']:.2%}"
        assert row[3:6] == ["completed", f"{summary['train_seconds']:.1f} s", "cpu"]


def test_a_directory_of_runs_compares_them_all_and_a_pipe_gets_the_table(runs):
    result = mnist_tui("compare", str(runs[0].parent))  # not a terminal: the table
    assert result.returncode == 0, result.stderr
    assert [row[0] for row in table_rows(result.stdout)] == ["run", "a", "b"]


def test_runs_of_different_data_sets_compare_with_a_warning(runs):
    with_config(runs[1], dataset="fashion-mnist")
    result = mnist_tui("compare", str(runs[0].parent), "--headless")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("mnist-tui: warning: these runs are of different data sets")
    assert "fashion-mnist (1 run)" in result.stderr
    assert table_rows(result.stdout)[0][6] == "dataset"


def test_a_run_that_cannot_be_read_is_left_out_with_a_line(runs):
    (runs[1] / "config.json").write_text("[]")
    result = mnist_tui("compare", str(runs[0].parent), "--headless")
    assert result.returncode == 0, result.stderr
    assert "left out" in result.stderr and "config.json" in result.stderr
    assert [row[0] for row in table_rows(result.stdout)] == ["run", "a"]


@pytest.mark.parametrize("which, message", [("empty", "holds no run"), ("missing", "no such directory")])
def test_a_directory_without_runs_is_one_line_and_exit_code_2(runs, tmp_path, which, message):
    (tmp_path / "empty" / "not-a-run").mkdir(parents=True)
    result = mnist_tui("compare", str(runs[0]), str(tmp_path / which), "--headless")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert result.stdout == ""
