"""Sweeps that race, sweep directories that others reach, and input that is not what mnist-tui writes: real
`mnist-tui sweep` processes on tiny synthetic digits (a few steps a run).

- a refused second sweep writes nothing; a cluster's task never touches a run another task trains;
- the sweep directory follows the run directory's rules (ours, written by nobody else), and its ``logs``
  is never followed as a link; a second user is a real one when the tests run as root;
- a ``.lock`` that is a link, a file system without locks, a FIFO or a 100,000-deep JSON: one line, exit 2;
- the same command resumes a sweep without --run-dir, and more seeds extend it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import mnist_tui
from helpers.engine import until
from helpers.other_user import as_user, other_user, shared_dir, uid_of  # noqa: F401 (a fixture)

from mnist_tui.cli import sweep as sweep_cli
from mnist_tui.runs import sweep as sw

FAST = ("--device", "cpu", "--threads", "1", "--batch-size", "50", "--eval-every", "2", "--max-steps", "2")
DEEP = "[" * 100_000 + "]" * 100_000


def sweep_args(data: Path, run_dir: Path | None, *extra: str, training=FAST) -> list[str]:
    where = ["--run-dir", str(run_dir)] if run_dir is not None else []
    return ["sweep", "--dataset", str(data), *training, *extra, *where]


def one_error_line(result: subprocess.CompletedProcess, expected: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist-tui: error: "), result.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


def planned(data: Path, run_dir: Path, *extra: str) -> sw.SweepPlan:
    args = sweep_cli.parser().parse_args(sweep_args(data, run_dir, *extra)[1:])
    return sweep_cli.plan_sweep(args)


# --- A: sweeps that race -----------------------------------------------------------------------------------
def test_a_refused_second_sweep_leaves_the_plan_alone(synthetic_dir, tmp_path):
    sweep = sw.SweepDirectory(tmp_path / "sweep")
    sweep.write_plan(planned(synthetic_dir, sweep.path, "--seeds", "0-1"))
    before = (sweep.path / "sweep.json").read_bytes()
    sweep.lock("foreground")  # a first sweep trains it now
    try:
        result = mnist_tui(*sweep_args(synthetic_dir, sweep.path, "--seeds", "5-6"))
        one_error_line(result, f"process {os.getpid()} is running this sweep")
    finally:
        sweep.close()
    assert (sweep.path / "sweep.json").read_bytes() == before  # seeds 5-6 were planned over 0-1 before


def test_a_task_leaves_a_run_that_another_task_trains_and_writes_its_log(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    slow = ("--device", "cpu", "--threads", "1", "--batch-size", "50", "--eval-every", "4", "--epochs", "300")
    args = sweep_args(synthetic_dir, sweep, "--seeds", "0", "--only", "0", training=slow)
    first = subprocess.Popen([sys.executable, "-m", "mnist_tui", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        until(lambda: b'"event":"step"' in _read(sweep / "seed=0" / "metrics.jsonl"), "the first task's first step")
        second = mnist_tui(*args)  # the same task given again while the first trains (on another node, say)
    finally:
        first.send_signal(signal.SIGTERM)  # as Slurm's time limit: the task forwards it, the run saves
        out, err = first.communicate(timeout=300)
    assert first.returncode == 130, (out, err)
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert re.search(r"^left +seed=0: running; process \d+ trains it", second.stdout, re.MULTILINE), second.stdout
    assert "resume" not in second.stdout and "start " not in second.stdout
    log = (sweep / "logs" / "seed=0.log").read_text()
    assert log.count("\n--- ") + log.startswith("--- ") == 1 and "--- " in log  # one process started, by the first
    assert "interrupted" in log.lower()  # the --only task's run writes its output there (it stayed empty)
    metrics = (sweep / "seed=0" / "metrics.jsonl").read_text()
    assert metrics.count('"run_started"') == 1
    assert json.loads((sweep / "seed=0" / "summary.json").read_text())["reason"] == "interrupted"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def crashed_run(data: Path, sweep: sw.SweepDirectory, run: sw.PlannedRun, host: str | None = None) -> Path:
    """A run whose process died before its first checkpoint (its files as such a run leaves them)."""
    from helpers.engine import config, run_all

    path = sweep.run_dir(run)
    run_all(config(data, path, max_steps=2))
    shutil.rmtree(path / "checkpoints")
    (path / "summary.json").unlink()
    gone = subprocess.Popen(["true"])
    gone.wait()
    process = json.loads((path / "process.json").read_text())
    (path / "process.json").write_text(json.dumps({**process, "pid": gone.pid, "host": host or process["host"]}))
    return path


def test_a_crashed_run_that_another_task_has_claimed_is_not_removed(synthetic_dir, tmp_path):
    import fcntl

    sweep = sw.SweepDirectory(tmp_path / "sweep")
    plan = planned(synthetic_dir, sweep.path, "--seeds", "0")
    sweep.write_plan(plan)
    (run,) = plan.runs
    path = crashed_run(synthetic_dir, sweep, run)
    assert sw.run_status(path)[0] == sw.Status.CRASHED
    # A second task has just decided to restart it: it holds the run's claim, its process not started yet.
    with sweep.open_log(run) as log:
        fcntl.flock(log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        events = list(sw.SweepRunner(sweep, [run], wait=False, poll=0.05).events())
        assert [(type(e).__name__, getattr(e, "status", None)) for e in events] == [("RunLeft", sw.Status.RUNNING)]
        assert (path / "config.json").exists() and (path / "metrics.jsonl").exists()  # not removed under it


def test_a_run_killed_on_another_node_before_its_first_checkpoint_restarts_here(synthetic_dir, tmp_path):
    sweep = sw.SweepDirectory(tmp_path / "sweep")
    plan = planned(synthetic_dir, sweep.path, "--seeds", "0")
    sweep.write_plan(plan)
    path = crashed_run(synthetic_dir, sweep, plan.runs[0], host="node-17")
    listed = mnist_tui(*sweep_args(synthetic_dir, sweep.path, "--seeds", "0", "--list"))
    assert re.search(r"^\s+0\s+crashed\s+seed=0$", listed.stdout, re.MULTILINE), listed.stdout  # not "elsewhere"
    result = mnist_tui(*sweep_args(synthetic_dir, sweep.path, "--seeds", "0", "--only", "0"))
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert re.search(r"^restart +seed=0 \(crashed before its first checkpoint\)$", result.stdout, re.MULTILINE)
    assert json.loads((path / "summary.json").read_text())["reason"] == "completed"
    assert (path / "metrics.jsonl").read_text().count('"run_started"') == 1


# --- B: the sweep directory is ours ------------------------------------------------------------------------
def test_a_sweep_directory_of_another_user_with_a_planted_logs_link_is_refused(synthetic_dir, tmp_path, shared_dir):
    user = other_user()
    documents = tmp_path / "Documents"  # the victim's (ours)
    documents.mkdir()
    theirs = shared_dir / "sweep"  # in a directory like /tmp, made by the other user, its logs a link to ours
    as_user(user, "mkdir", "-m", "755", str(theirs))
    as_user(user, "ln", "-s", str(documents), str(theirs / "logs"))
    result = mnist_tui(*sweep_args(synthetic_dir, theirs, "--seeds", "0"))
    one_error_line(result, f"{theirs}: belongs to another user (uid {uid_of(user)})")

    # Ours, but others may write to it (mode 777): they planted the link, and it is refused too.
    open_to_all = shared_dir / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    as_user(user, "ln", "-s", str(documents), str(open_to_all / "logs"))
    result = mnist_tui(*sweep_args(synthetic_dir, open_to_all, "--seeds", "0"))
    one_error_line(result, "writable by group or others (mode 777)")
    assert list(documents.iterdir()) == []  # no seed=0.log written into the victim's folder


def test_a_logs_link_in_a_sweep_directory_is_never_followed(synthetic_dir, tmp_path):
    documents = tmp_path / "Documents"
    documents.mkdir()
    sweep = tmp_path / "sweep"
    sweep.mkdir(mode=0o700)
    (sweep / "logs").symlink_to(documents)
    result = mnist_tui(*sweep_args(synthetic_dir, sweep, "--seeds", "0"))
    one_error_line(result, f"{sweep / 'logs'}: a symbolic link stands there")
    assert list(documents.iterdir()) == [] and not (sweep / "seed=0").exists()


# --- C: bounded, clear failures ----------------------------------------------------------------------------
def test_a_lock_that_is_a_link_is_one_line(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir(mode=0o700)
    (sweep / ".lock").symlink_to(tmp_path / "elsewhere.lock")
    result = mnist_tui(*sweep_args(synthetic_dir, sweep, "--seeds", "0"))
    one_error_line(result, f"{sweep / '.lock'}: not a regular file (a link or a directory stands there)")
    assert not (tmp_path / "elsewhere.lock").exists()


def test_a_file_system_without_locks_is_one_line(synthetic_dir, tmp_path):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("needs strace to make flock fail as on a file system without locks (ENOLCK)")
    probe = subprocess.run([strace, "-o", "/dev/null", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.decode().strip()}")
    sweep = tmp_path / "sweep"
    for extra in ((), ("--only", "0")):
        inject = ["-f", "-o", "/dev/null", "-e", "trace=flock", "-e", "inject=flock:error=ENOLCK"]
        args = sweep_args(synthetic_dir, sweep, "--seeds", "0", *extra)
        command = [strace, *inject, sys.executable, "-m", "mnist_tui", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        one_error_line(result, "cannot lock (No locks available); the sweep directory must be on a file system with")
    assert not (sweep / "seed=0").exists()


def test_a_fifo_named_sweep_json_is_one_line_not_a_hang(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir(mode=0o700)
    os.mkfifo(sweep / "sweep.json")
    report = mnist_tui("sweep", "--report", str(sweep), timeout=60)
    one_error_line(report, "sweep.json: cannot read (not a regular file)")
    one_error_line(mnist_tui(*sweep_args(synthetic_dir, sweep, "--seeds", "0"), timeout=60), "not a regular file")


def test_json_nested_100000_deep_is_damaged_input(synthetic_dir, tmp_path):
    sweep = tmp_path / "sweep"
    args = sweep_args(synthetic_dir, sweep, "--seeds", "0-1")
    assert mnist_tui(*args).returncode == 0
    # A run's files: the report and the same command (its resume) name the run as damaged and go on.
    (sweep / "seed=1" / "summary.json").write_text(DEEP)
    with open(sweep / "seed=0" / "metrics.jsonl", "a") as f:
        f.write(DEEP + "\n")
    report = mnist_tui("sweep", "--report", str(sweep))
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    assert "1/2" in report.stdout and "1 damaged: seed=1" in report.stdout, report.stdout
    again = mnist_tui(*args)
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr
    assert "kept     seed=0" in again.stdout and re.search(r"^left +seed=1: damaged", again.stdout, re.MULTILINE)
    (sweep / "seed=1" / "config.json").write_text(DEEP)
    assert "1 damaged: seed=1" in mnist_tui("sweep", "--report", str(sweep)).stdout

    # The plan itself.
    (sweep / "sweep.json").write_text(DEEP)
    one_error_line(mnist_tui("sweep", "--report", str(sweep)), "not a sweep plan mnist-tui can read (nested too deep)")
    one_error_line(mnist_tui(*args), "not a sweep plan mnist-tui can read (nested too deep)")


# --- D: sweeps behave as they say --------------------------------------------------------------------------
def test_the_same_command_without_run_dir_resumes_its_sweep_and_more_seeds_extend_it(synthetic_dir, tmp_path):
    home = tmp_path / "home"
    env = {"MNIST_TUI_DATA_DIR": str(home)}
    first = mnist_tui(*sweep_args(synthetic_dir, None, "--seeds", "0-1"), env_extra=env)
    assert first.returncode == 0, first.stderr
    (sweep,) = list((home / "runs").iterdir())
    again = mnist_tui(*sweep_args(synthetic_dir, None, "--seeds", "0-1"), env_extra=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("kept     seed=") == 2 and "start " not in again.stdout
    assert list((home / "runs").iterdir()) == [sweep]  # the same sweep, not a new one from seed 0

    more = mnist_tui(*sweep_args(synthetic_dir, None, "--seeds", "0-2"), env_extra=env)
    assert more.returncode == 0, more.stderr
    assert more.stdout.count("kept     seed=") == 2 and re.search(r"^start +seed=2$", more.stdout, re.MULTILINE)
    assert list((home / "runs").iterdir()) == [sweep]
    plan = json.loads((sweep / "sweep.json").read_text())
    assert [r["name"] for r in plan["runs"]] == ["seed=0", "seed=1", "seed=2"] and plan["seeds"] == [0, 1, 2]
    statuses = [line.split(",")[3] for line in (sweep / "sweep.csv").read_text().splitlines()[1:]]
    assert statuses == ["finished"] * 3

    # Fewer seeds: a part of the same sweep (its plan keeps them all); other options: another sweep.
    fewer = mnist_tui(*sweep_args(synthetic_dir, None, "--seeds", "1"), env_extra=env)
    assert fewer.returncode == 0 and "kept     seed=1" in fewer.stdout and "kept     seed=0" not in fewer.stdout
    assert len(json.loads((sweep / "sweep.json").read_text())["runs"]) == 3
    refused = mnist_tui(*sweep_args(synthetic_dir, sweep, "--seeds", "0", "--lr", "1e-3"))
    one_error_line(refused, "other training options (lr)")
