"""mnist-tui sweep as a user meets it: real processes on small synthetic digits, interrupted and resumed,
detached, split into the tasks of a job array; bad input in one line; the Slurm example of docs/slurm.md."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from helpers.cli import mnist_tui
from helpers.engine import until

from mnist_tui.cli import sweep as sweep_cli

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ("--device", "cpu", "--threads", "1", "--batch-size", "50", "--eval-every", "4", "--epochs", "4")
GRID = ("--seeds", "0-1", "--grid", "lr=2e-3,5e-3", "--target", "0.3")


def sweep_args(synthetic_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["sweep", "--dataset", str(synthetic_dir), *TRAINING, *GRID, "--run-dir", str(run_dir), *extra]


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mnist_tui", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))  # fmt: skip


def recorded(run: Path, text: str) -> bool:
    metrics = run / "metrics.jsonl"
    return metrics.exists() and text.encode() in metrics.read_bytes()


def rows(sweep: Path) -> list[dict]:
    with open(sweep / "sweep.csv", newline="") as f:
        return list(csv.DictReader(f))


FIGURES = ("name", "lr", "seed", "status", "reason", "final_test_accuracy", "validation_accuracy",
           "best_validation_accuracy", "iteration", "epoch")  # fmt: skip


def figures(sweep: Path) -> list[tuple]:
    """What a sweep computed, per run: all but the times (which the machine decides)."""
    return [(*(r[k] for k in FIGURES), r["time_to_target"] != "") for r in rows(sweep)]


def accuracy_columns(table: str) -> list[list[str]]:
    """The setting, runs and final test accuracy cells (mean ± sd, min, max) of each row of a sweep table."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in table.splitlines() if line.startswith("│")]
    return [row[:5] for row in cells]


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, Path]:
    """An uninterrupted sweep of 2 learning rates x 2 seeds (and its data set)."""
    from helpers.synthetic import write_dataset

    base = tmp_path_factory.mktemp("sweep")
    data = write_dataset(base / "data", n_train=600, n_test=200)
    env = {"MNIST_TUI_DATA_DIR": str(base / "home"), "MNIST_TUI_OFFLINE": "1"}
    result = mnist_tui(*sweep_args(data, base / "whole"), env_extra=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return base / "whole", result, data


def test_a_sweep_trains_every_combination_and_ends_with_a_table(finished_sweep):
    sweep, result, _ = finished_sweep
    names = ["lr=2e-3_seed=0", "lr=2e-3_seed=1", "lr=5e-3_seed=0", "lr=5e-3_seed=1"]
    assert [r["name"] for r in rows(sweep)] == names
    assert all(r["status"] == "finished" and r["reason"] == "completed" for r in rows(sweep))
    assert [r["lr"] for r in rows(sweep)] == ["2e-3", "2e-3", "5e-3", "5e-3"]
    plan = json.loads((sweep / "sweep.json").read_text())
    assert [r["name"] for r in plan["runs"]] == names and plan["seeds"] == [0, 1]
    assert plan["runs"][2]["args"][-4:] == ["--lr", "5e-3", "--seed", "0"]
    for name in names:
        config = json.loads((sweep / name / "config.json").read_text())
        assert config["lr"] == float(name[3:7]) and config["seed"] == int(name[-1]) and config["epochs"] == 4
        assert (sweep / "logs" / f"{name}.log").read_text().count("Run completed") == 1
    assert result.stdout.count("start    lr=") == 4 and result.stdout.count("finished lr=") == 4
    table = accuracy_columns(result.stdout)
    assert [row[:2] for row in table] == [["lr=2e-3", "2/2"], ["lr=5e-3", "2/2"]]
    assert "time to 30.00%" in result.stdout
    accuracies = sorted(float(r["final_test_accuracy"]) for r in rows(sweep) if r["lr"] == "2e-3")
    assert table[0][3:5] == [f"{accuracies[0]:.2%}", f"{accuracies[1]:.2%}"]  # min and max


def test_the_same_command_again_keeps_every_finished_run_and_report_reads_it(finished_sweep):
    sweep, first, data = finished_sweep
    before = figures(sweep)
    again = mnist_tui(*sweep_args(data, sweep))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("kept     lr=") == 4 and "start " not in again.stdout
    assert accuracy_columns(again.stdout) == accuracy_columns(first.stdout) and figures(sweep) == before

    report = mnist_tui("sweep", "--report", str(sweep), "--target", "0.3")
    assert report.returncode == 0, report.stderr
    assert accuracy_columns(report.stdout) == accuracy_columns(first.stdout)
    listed = mnist_tui(*sweep_args(data, sweep, "--list"))
    assert listed.returncode == 0 and "4 runs (--only 0 to 3)" in listed.stdout
    assert re.search(r"^\s+3\s+finished\s+lr=5e-3_seed=1$", listed.stdout, re.MULTILINE), listed.stdout

    runs = mnist_tui("runs", "--headless", str(sweep.parent))  # the sweep's runs, found inside it
    assert runs.returncode == 0 and runs.stdout.count("completed") + runs.stdout.count("finished") >= 4
    assert "4 runs" in runs.stdout and "lr=5e-3_seed=1" in runs.stdout


def test_a_different_plan_in_the_same_directory_is_refused(finished_sweep):
    sweep, _, data = finished_sweep
    before = (sweep / "sweep.json").read_bytes()
    for change in (["--grid", "weight-decay=0,1e-3"], ["--grid", "lr=2e-3,5e-3,1e-2"], ["--epochs", "5"]):
        args = sweep_args(data, sweep) + change  # the later --grid or --epochs adds or wins
        result = mnist_tui(*args)
        assert result.returncode == 2, (change, result.stdout)
        (line,) = result.stderr.strip().splitlines()
        assert "other training options (epochs)" in line or "a grid of lr, not of lr, weight-decay" in line or (
            "given twice" in line
        ), line
        assert "another --run-dir" in line or "given twice" in line
    assert (sweep / "sweep.json").read_bytes() == before


def test_interrupted_twice_a_sweep_resumes_to_the_table_of_an_uninterrupted_one(finished_sweep):
    whole, first, data = finished_sweep
    sweep = whole.parent / "interrupted"
    args = sweep_args(data, sweep)

    # 1. SIGTERM (as `kill` sends) to the sweep once its first run has evaluated: the run stops cleanly.
    proc = start(args)
    until(lambda: recorded(sweep / "lr=2e-3_seed=0", '"event":"evaluation"'), "the first evaluation")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "stopping: each run saves and stops" in out
    summary = json.loads((sweep / "lr=2e-3_seed=0" / "summary.json").read_text())
    assert summary["reason"] == "interrupted"
    assert not (sweep / "lr=2e-3_seed=1").exists()  # nothing more started

    # 2. The sweep and the run it trains killed outright (out of memory, a reboot) after a checkpoint.
    proc = start(args)
    second = sweep / "lr=2e-3_seed=1"
    until(lambda: (second / "checkpoints" / "last.pt").exists(), "the second run's first checkpoint")
    trainer = json.loads((second / "process.json").read_text())["pid"]
    proc.send_signal(signal.SIGKILL)
    os.kill(trainer, signal.SIGKILL)
    proc.communicate(timeout=60)
    until(lambda: not psutil.pid_exists(trainer) or psutil.Process(trainer).status() == psutil.STATUS_ZOMBIE,
          "the killed run to go")  # fmt: skip
    assert not (second / "summary.json").exists()

    # 3. The same command: each run resumed or started, and the table is the uninterrupted one's.
    result = mnist_tui(*args, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "resume   lr=2e-3_seed=1 (crashed)" in result.stdout and "kept     lr=2e-3_seed=0" in result.stdout
    assert figures(sweep) == figures(whole)
    assert accuracy_columns(result.stdout) == accuracy_columns(first.stdout)
    for name, parts in (("lr=2e-3_seed=0", 2), ("lr=2e-3_seed=1", 2), ("lr=5e-3_seed=0", 1)):
        metrics = (sweep / name / "metrics.jsonl").read_text().splitlines()
        starts = [json.loads(line)["start_iteration"] for line in metrics if '"run_started"' in line]
        assert len(starts) == parts and all(s > 0 for s in starts[1:]), (name, starts)


def test_a_killed_sweep_leaves_its_run_to_finish_and_the_same_command_waits_for_it(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    args = ["sweep", "--dataset", str(synthetic_dir), *TRAINING, "--seeds", "0", "--run-dir", str(sweep)]
    proc = start(args)
    run = sweep / "seed=0"
    until(lambda: recorded(run, '"event":"evaluation"'), "the first evaluation")
    proc.send_signal(signal.SIGKILL)  # the sweep only: its run trains in a session of its own
    proc.communicate(timeout=60)
    result = mnist_tui(*args)
    assert result.returncode == 0, result.stderr
    if "waiting  seed=0: process" in result.stdout:  # the run was still training (it nearly always is)
        assert "kept     seed=0" in result.stdout
    assert [r["status"] for r in rows(sweep)] == ["finished"]
    metrics = (run / "metrics.jsonl").read_text()
    assert metrics.count('"run_started"') == 1 and json.loads((run / "summary.json").read_text())["iteration"] == 44


def test_detach_runs_the_sweep_in_the_background(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    args = ["sweep", "--dataset", str(synthetic_dir), *TRAINING, "--seeds", "0-1", "--run-dir", str(sweep)]
    result = mnist_tui(*args, "--detach")
    assert result.returncode == 0, result.stderr
    pid = int(re.search(r"pid (\d+)", result.stdout).group(1))
    try:
        assert f"mnist-tui sweep --report {sweep.resolve()}" in result.stdout
        again = mnist_tui(*args)  # a second sweep process on the same directory: refused while it runs
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert again.returncode == 2 and f"process {pid} is running this sweep" in again.stderr
        until(lambda: (sweep / "sweep.csv").exists(), "the background sweep to end")
        until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
              "its process to end")  # fmt: skip
    finally:
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGTERM)
    assert [r["status"] for r in rows(sweep)] == ["finished", "finished"]
    log = " ".join((sweep / "background.log").read_text().split())  # the table's title wraps where its path is long
    assert "finished seed=1" in log and "2 of 2 runs finished" in log


def test_the_tasks_of_a_job_array_share_a_sweep_directory(synthetic_dir, tmp_path):
    sweep = tmp_path / "shared"
    args = ["sweep", "--dataset", str(synthetic_dir), *TRAINING, "--seeds", "0-1", "--run-dir", str(sweep)]
    tasks = [start([*args, "--only", str(i)]) for i in (0, 1)]  # two tasks at once, as Slurm starts them
    for task in tasks:
        out, err = task.communicate(timeout=300)
        assert task.returncode == 0, err
        assert re.search(r"^run \d of the sweep in .*: seed=\d \(its output: ", out, re.MULTILINE), out
        assert re.search(r"^start +seed=\d$", out, re.MULTILINE) and "finished seed=" in out, out
    for name in ("seed=0", "seed=1"):  # each task's run writes its output where the sweep's runs do
        assert (sweep / "logs" / f"{name}.log").read_text().count("Run completed") == 1
    assert not (sweep / "sweep.csv").exists()  # tasks train; the report adds up
    report = mnist_tui("sweep", "--report", str(sweep))
    assert report.returncode == 0 and [row[:2] for row in accuracy_columns(report.stdout)] == [["all runs", "2/2"]]
    assert [r["status"] for r in rows(sweep)] == ["finished", "finished"]
    again = mnist_tui(*args, "--only", "1")
    assert again.returncode == 0 and "kept     seed=1 (finished before)" in again.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--grid", "foo=1,2"], "--grid foo=1,2: foo is not a training option"),
        (["--grid", "lr="], "--grid lr=: an empty grid"),
        (["--grid", "lr"], "--grid lr: expected OPTION=VALUE"),
        (["--grid", "lr=1e-3,,2e-3"], "an empty value"),
        (["--grid", "run-dir=a,b"], "run-dir is not a training option that can vary"),
        (["--grid", "seed=1,2"], "seeds are given with --seeds"),
        (["--grid", "lr=x"], "argument --lr: expected a number, got 'x'"),
        (["--grid", "lr=-1"], "--lr must be greater than 0"),
        (["--grid", "early-stopping=on,maybe"], "its values are on or off"),
        (["--grid", "lr=1e-3", "--grid", "lr=2e-3"], "--grid lr is given twice"),
        (["--lr", "1e-3", "--grid", "lr=2e-3"], "--lr is given both as a training option and in --grid"),
        (["--seed", "3"], "a sweep takes --seeds"),
        (["--resume", "x"], "give the same sweep command again"),
        (["--seeds", "3-1"], "--seeds 3-1: 3-1 is not a range"),
        (["--seeds", "0,1,0"], "seed 0 is given twice"),
        (["--seeds", "a"], "--seeds a: expected a range"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--devices", "cuda:99"], "--devices cuda:99:"),
        (["--devices", "cpu,"], "an empty device"),
        (["--devices", "cpu", "--device", "cpu"], "--device and --devices: give one"),
        (["--target", "99"], "expected a fraction"),
        (["--only", "2"], "--only 2: the sweep has 1 run, numbered 0 to 0"),
        (["--report", "/no/such/dir"], "--report /no/such/dir: no such directory"),
        (["--report", ".", "--lr", "1e-3"], "--report reads a sweep and trains nothing"),
    ],
)
def test_bad_input_gets_one_line_and_exit_code_2(args, expected, tmp_path):
    where = [] if "--report" in args else ["--run-dir", str(tmp_path / "sweep")]
    result = mnist_tui("sweep", *args, *where)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist-tui: error: ") and expected in lines[0], result.stderr
    assert not (tmp_path / "sweep").exists()  # nothing written


def test_a_bad_data_set_stops_the_sweep_in_one_line_and_a_corrected_command_replaces_its_plan(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    common = [*TRAINING, "--seeds", "0-1", "--run-dir", str(sweep), "--max-steps", "2"]
    result = mnist_tui("sweep", "--dataset", str(tmp_path / "nothing"), *common)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mnist-tui: error: seed=0: unknown data set") and "start    seed=1" not in result.stdout
    fixed = mnist_tui("sweep", "--dataset", str(synthetic_dir), *common)  # none of its runs started: replaced
    assert fixed.returncode == 0, fixed.stderr
    assert [r["status"] for r in rows(sweep)] == ["finished", "finished"]


def test_a_directory_that_holds_other_things_is_not_made_a_sweep(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = mnist_tui("sweep", "--run-dir", str(tmp_path), "--list")
    assert result.returncode == 2 and "holds other things than this sweep (notes.txt" in result.stderr
    assert not (tmp_path / "sweep.json").exists()


# The Slurm example ------------------------------------------------------------------------------------------
def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.DOTALL)


def sweep_commands(block: str, env: dict[str, str]) -> list[list[str]]:
    """The `mnist-tui sweep` command lines of a shell block (also one inside sbatch --wrap), variables set."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#") or ("mnist-tui" not in line and "-m mnist_tui" not in line):
            continue
        words = shlex.split(os.path.expandvars(line) if env else line)
        if "--wrap" in words:
            words = shlex.split(words[words.index("--wrap") + 1])
        if "mnist-tui" not in words and "mnist_tui" not in words:  # a path such as ~/.cache/mnist-tui
            continue
        at = words.index("mnist-tui") if "mnist-tui" in words else words.index("mnist_tui")  # or python -m
        if words[at + 1] == "sweep":
            found.append(words[at + 2 :])
    return found


def test_the_slurm_example_is_valid_shell_and_its_sweep_parses(monkeypatch):
    text = (ROOT / "docs" / "slurm.md").read_text()
    (script,) = [b for b in shell_blocks(text) if "#SBATCH --array" in b]
    check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert script.startswith("#!/bin/bash\n")

    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")
    (task,) = sweep_commands(script, dict(os.environ))
    args = sweep_cli.parser().parse_args(task)
    sweep_dir = args.run_dir
    assert args.only == 0 and sweep_dir and f"--output={sweep_dir}/logs/" in script
    plan = sweep_cli.plan_sweep(args)  # every run of it checked as mnist-tui checks its options
    first, last = map(int, re.search(r"#SBATCH --array=(\d+)-(\d+)", script).groups())
    assert (first, last) == (0, len(plan.runs) - 1)  # one task per run of the plan

    others = [c for b in shell_blocks(text) if "#SBATCH" not in b for c in sweep_commands(b, {})]
    assert len(others) == 4  # --slurm, --status, --report, --report in a dependent job
    for command in others:
        args = sweep_cli.parser().parse_args(command)
        if args.slurm:
            assert sweep_cli.plan_sweep(args).same_runs(plan) and args.run_dir == sweep_dir
        else:
            assert sweep_dir in (args.report, args.status) and not args.training
