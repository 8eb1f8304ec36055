"""Clumsy and hostile input at the command line: one line, exit code 2, and nothing already written lost."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers.cli import mnist_tui
from helpers.synthetic import write_dataset

COMMON = ("--device", "cpu", "--batch-size", "50", "--eval-every", "2", "--threads", "1")


def one_line(result, expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("mnist-tui: error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--threads", "1000000"], "--threads must be 0 or more and at most 1,024"),
        (["--seed", str(2**70)], "--seed must be 0 or more and at most 4,294,967,295"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--lr", "inf"], "expected a finite number"),
        (["--weight-decay", "nan"], "expected a finite number"),
        (["--weight-decay", "inf"], "expected a finite number"),
        (["--min-delta", "inf"], "expected a finite number"),
        (["--epochs", str(2**70)], "--epochs must be"),
        (["--label-smoothing", "nan"], "expected a finite number"),
    ],
)
def test_numbers_are_checked_before_anything_is_written(args, expected, tmp_path):
    run = tmp_path / "run"
    one_line(mnist_tui(*args, "--headless", "--run-dir", str(run)), expected)
    assert not run.exists()  # a retry with the same --run-dir works


def test_inspect_top_must_be_a_count(tmp_path):
    one_line(mnist_tui("inspect", str(tmp_path), "--top", "-5"), "--top: expected a whole number from 1")


def test_resume_of_a_directory_that_holds_no_run(tmp_path):
    one_line(mnist_tui("--resume", str(tmp_path), "--headless"), "config.json: missing")
    one_line(mnist_tui("--resume", str(tmp_path), "--detach"), "config.json: missing")


@pytest.mark.parametrize(
    "name, content",
    [
        ("config.json", "[1, 2, 3]"),
        ("config.json", '{"epochs": "ten"}'),
        ("config.json", '{"lr": 1e999}'),
        ("config.json", '{"early_stopping": {"enabled": "no"}}'),
    ],
)
def test_a_damaged_config_is_named_in_one_line(name, content, tmp_path):
    (tmp_path / name).write_text(content)
    result = mnist_tui("--resume", str(tmp_path), "--headless")
    one_line(result, str(tmp_path / name))


@pytest.fixture
def finished_run(synthetic_dir, tmp_path):
    run = tmp_path / "run"
    result = mnist_tui("--dataset", str(synthetic_dir), *COMMON, "--max-steps", "4", "--run-dir", str(run))
    assert result.returncode == 0, result.stderr
    return run


def test_options_given_with_resume_apply_or_are_refused(finished_run):
    one_line(mnist_tui("--resume", str(finished_run), "--lr", "0.1", "--headless"), "--lr cannot change")
    resumed = mnist_tui("--resume", str(finished_run), "--max-steps", "8", "--headless")
    assert resumed.returncode == 0, resumed.stderr
    assert "--max-steps 8 for this resumed run (it was 4)" in resumed.stdout
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["iteration"] == 8  # not every epoch of the saved config
    assert json.loads((finished_run / "config.json").read_text())["max_steps"] == 8


@pytest.mark.parametrize(
    "name, content",
    [
        ("summary.json", '"a string"'),
        ("summary.json", "{not json"),
        ("process.json", '{"pid": "abc"}'),
        ("metrics.jsonl", '{"event": "evaluation", "iteration": "x", "best_accuracy": "y"}\n'),
    ],
)
def test_runs_lists_the_rest_when_one_run_is_damaged(name, content, finished_run, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(finished_run, damaged)
    path = damaged / name
    path.write_text(path.read_text() + content if name.endswith(".jsonl") else content)
    result = mnist_tui("runs", "--headless", str(finished_run), str(damaged))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "2 runs" in result.stdout and str(finished_run) in result.stdout.replace("\n", "")


def test_rich_markup_in_a_data_set_name_is_printed_as_it_is(tmp_path):
    for name in ("set[red]x", "set[@click=(]"):
        data = write_dataset(tmp_path / name, n_train=100, n_test=50)
        result = mnist_tui("--dataset", str(data), *COMMON, "--max-steps", "2", "--run-dir", str(tmp_path / "r" / name))
        assert result.returncode == 0, result.stderr
        assert name in result.stdout, result.stdout


@pytest.mark.parametrize(
    "damage",
    ["model is a list", "optimizer missing", "loop of the wrong shape", "best.pt model is a string"],
)
def test_a_checkpoint_that_does_not_fit_the_run_is_named_in_one_line(damage, finished_run):
    import torch

    from mnist_tui.engine.checkpoints import load_checkpoint, save_checkpoint

    name = "best.pt" if damage.startswith("best") else "last.pt"
    path = finished_run / "checkpoints" / name
    state = load_checkpoint(path)
    state.pop("format"), state.pop("version")
    if damage == "model is a list":
        state["model"] = [1, 2, 3]
    elif damage == "optimizer missing":
        del state["optimizer"]
    elif damage == "loop of the wrong shape":
        state["loop"] = {"epoch": "one", "bogus": torch.zeros(2)}
    else:
        state["model"] = "weights"
    save_checkpoint(path, state)
    result = mnist_tui("--resume", str(finished_run), "--max-steps", "8", "--headless")
    one_line(result, str(path))
