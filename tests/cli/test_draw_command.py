"""``mnist-tui draw``: what it refuses, in one line and exit code 2, before any app opens."""

from __future__ import annotations

from helpers.cli import mnist_tui


def test_no_runs_no_such_directory_no_run_and_no_terminal(tmp_path, synthetic_dir):
    cases = [
        (["draw"], "no run with weights"),  # the runs directory is empty (the tests' own)
        (["draw", str(tmp_path / "nope")], "no such run directory"),
        (["draw", str(tmp_path)], "not a mnist-tui run directory"),
    ]
    for args, message in cases:
        result = mnist_tui(*args)
        assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1, (
            args,
            result.stderr,
        )


def test_a_run_with_weights_needs_a_terminal(tmp_path, synthetic_dir):
    from helpers.engine import config, run_all

    run_dir = tmp_path / "run"
    run_all(config(synthetic_dir, run_dir, epochs=1, max_steps=4, model="fast"))
    result = mnist_tui("draw", str(run_dir))  # stdout is a pipe here
    assert result.returncode == 2 and "needs a terminal" in result.stderr and "predict" in result.stderr
