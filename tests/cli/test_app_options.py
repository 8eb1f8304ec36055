"""The app's options on the command line: --theme, --no-bell, and where --help says the keymap file is."""

from __future__ import annotations

import argparse

import pytest
from helpers.cli import mnist_tui

from mnist_tui.cli.train import app_settings, parser
from mnist_tui.ui.live.keymap import keymap_path


@pytest.mark.parametrize("args", [["--theme", "solarised"], ["attach", "--theme", "solarised"]])
def test_an_unknown_theme_is_one_line_and_exit_code_2(args):
    result = mnist_tui(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--theme solarised: no such theme" in lines[0] and "nord" in lines[0]


def test_theme_and_no_bell_reach_the_app_settings():
    args = parser().parse_args(["--theme", "nord", "--no-bell", "--max-steps", "10"])
    assert app_settings(args) == {"theme": "nord", "bell": False}
    assert app_settings(parser().parse_args([])) == {"theme": None, "bell": True}  # the terminal's theme, the bell


def test_theme_and_no_bell_are_not_part_of_the_run_config():
    from mnist_tui.cli.train import config_from_args

    config = config_from_args(parser().parse_args(["--theme", "nord", "--no-bell", "--max-steps", "10"]))
    assert config.max_steps == 10  # the run is the same whatever it looks like


def test_a_headless_run_takes_no_bell_and_a_theme(synthetic_dir, tmp_path):
    run_dir = tmp_path / "run"
    result = mnist_tui(
        "--headless", "--no-bell", "--theme", "nord", "--dataset", str(synthetic_dir), "--max-steps", "2",
        "--eval-every", "2", "--val-split", "0", "--no-early-stopping", "--no-restore-best", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (run_dir / "summary.json").exists()


def test_help_names_the_keymap_file(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = mnist_tui("--help")
    assert result.returncode == 0
    assert str(keymap_path()) in result.stdout and "--theme" in result.stdout and "--no-bell" in result.stdout


def test_attach_takes_the_app_options():
    from mnist_tui.cli.attach import parser as attach_parser

    args = attach_parser().parse_args(["--theme", "nord", "--no-bell"])
    assert isinstance(args, argparse.Namespace) and app_settings(args) == {"theme": "nord", "bell": False}
