"""A closed terminal is an interrupt, not a crash: whatever mix of SIGHUP, SIGCONT, SIGTERM and a dead terminal
arrives, a run finishes its step, saves and writes its summary (``interrupted``), and the process ends.

Every test runs the real program on small synthetic data, the app on a real pseudo-terminal (``pty.fork``: the
app is the terminal's own process, as under ``tmux new 'mnist-tui ...'`` or a terminal window).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from mnist_tui.engine.checkpoints import load_checkpoint
from mnist_tui.runs.signals import terminal_hung_up

BOUND = 120  # seconds: far more than any of these runs needs to save; only a run that never saves reaches it


def exit_status(pid: int, timeout: float) -> int | None:
    """Wait for child ``pid`` to end: its status, or None while it still runs at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def metrics_lines(run: Path) -> int:
    try:
        return len((run / "metrics.jsonl").read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def read_terminal(fd: int, until, bound: float = BOUND) -> None:
    """Read what the app draws (so it never blocks) until ``until()`` or the terminal hangs up."""
    deadline = time.monotonic() + bound
    while not until() and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def wait_for(condition, bound: float = BOUND) -> bool:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def pending_output(fd: int) -> int:
    """Bytes the app has written to the terminal that the terminal has not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def output_backed_up(fd: int, run: Path) -> bool:
    """The terminal takes no more of the app's output while the run goes on: the app's writes wait."""
    pending, lines = pending_output(fd), metrics_lines(run)
    time.sleep(2.0)
    return pending_output(fd) == pending and metrics_lines(run) > lines + 5


def summary(run: Path) -> dict | None:
    try:
        return json.loads((run / "summary.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def assert_saved_as_interrupted(run: Path) -> None:
    ended = summary(run)
    assert ended is not None, "no summary.json: the run did not save"
    assert ended["reason"] == "interrupted" and ended["status"] == "finished", ended
    assert load_checkpoint(run / "checkpoints" / "last.pt")["loop"]["iteration"] == ended["iteration"]


def start_app_on_a_terminal(synthetic_dir: Path, run: Path) -> tuple[int, int]:
    """The live app as the terminal's own process (session leader, the pty its controlling terminal)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvp(sys.executable, [sys.executable, "-m", "mnist_tui", "--dataset", str(synthetic_dir),
                  "--device", "cpu", "--batch-size", "50", "--eval-every", "4", "--epochs", "500",
                  "--patience", "100000", "--threads", "1", "--run-dir", str(run)])  # fmt: skip
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 200, 0, 0))  # a large window: large frames
    return pid, fd


def end(pid: int, fd: int | None = None) -> int | None:
    """Close the terminal if still open and wait for the process: its status, None if it had to be killed."""
    if fd is not None:
        os.close(fd)
    status = exit_status(pid, timeout=BOUND)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return status


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_signal_while_the_terminal_stopped_reading_saves_and_exits(sig, synthetic_dir, tmp_path):
    """A frozen SSH session or a busy terminal window: the app's output backs up and its UI thread blocks on the
    next frame. A hang-up (or SIGTERM) must still stop the run, save it and end the process: before, the stop
    waited for the stuck UI thread, and the run trained on until it was killed, its work since the last save
    lost."""
    run = tmp_path / "run"
    pid, fd = start_app_on_a_terminal(synthetic_dir, run)
    try:
        read_terminal(fd, (run / "checkpoints" / "last.pt").exists)
        assert (run / "checkpoints" / "last.pt").exists(), "the app did not start training"
        # Stop reading: the terminal's buffer fills, then the app's queue of frames, then its UI thread waits.
        assert wait_for(lambda: output_backed_up(fd, run) and output_backed_up(fd, run), bound=90), "never backed up"
        os.killpg(pid, sig)  # as a terminal emulator does when its window is closed; the terminal is still unread
        saved = wait_for(lambda: summary(run) is not None)
        status = end(pid, fd)
        fd = None
    finally:
        if fd is not None:
            end(pid, fd)
    assert saved, "the run did not stop and save while its terminal was not read"
    assert status is not None, "the process was still running after its run had saved"
    assert_saved_as_interrupted(run)


@pytest.mark.parametrize("signals", ["close", "hup,cont,close", "hup,close,hup,term"])
def test_terminal_that_goes_away_saves_and_exits(signals, synthetic_dir, tmp_path):
    """tmux kill-session, a closed window, a dropped SSH connection: the terminal goes away (its master closed: the
    kernel's SIGHUP and SIGCONT, writes fail with EIO, reads return EOF), with or without more hang-ups and a
    SIGTERM from whoever closed it. The run saves, its summary says interrupted, and the process ends."""
    run = tmp_path / "run"
    pid, fd = start_app_on_a_terminal(synthetic_dir, run)
    try:
        read_terminal(fd, (run / "checkpoints" / "last.pt").exists)
        assert (run / "checkpoints" / "last.pt").exists(), "the app did not start training"
        for what in signals.split(","):
            if what == "close":
                os.close(fd)
                fd = None
            else:
                os.killpg(pid, {"hup": signal.SIGHUP, "cont": signal.SIGCONT, "term": signal.SIGTERM}[what])
        status = end(pid, fd)
        fd = None
    finally:
        if fd is not None:
            end(pid, fd)
    assert status is not None, "the app kept running after its terminal went away"
    assert_saved_as_interrupted(run)


@pytest.mark.parametrize("second", [signal.SIGHUP, signal.SIGTERM])
def test_headless_second_hang_up_or_term_does_not_abort_the_save(second, synthetic_dir, tmp_path):
    """A closed terminal often sends two signals (the emulator's SIGHUP and the kernel's, or SIGHUP then SIGTERM).
    Only a second Ctrl+C typed by a person aborts: before, any second signal did, and the run lost its save."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "mnist_tui", "--headless", "--dataset", str(synthetic_dir), "--device", "cpu",
           "--batch-size", "50", "--eval-every", "4", "--epochs", "500", "--run-dir", str(run)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # training, and evaluated
            if line.startswith("iter"):
                break
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(second)
        out, err = proc.communicate(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert_saved_as_interrupted(run)


def test_headless_on_a_terminal_that_goes_away_saves(synthetic_dir, tmp_path):
    """The headless runner on a terminal that hangs up: its progress lines would now go to a dead terminal (EIO);
    it saves and ends as interrupted all the same."""
    run = tmp_path / "run"
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvp(sys.executable, [sys.executable, "-m", "mnist_tui", "--headless", "--dataset", str(synthetic_dir),
                  "--device", "cpu", "--batch-size", "50", "--eval-every", "4", "--epochs", "500",
                  "--patience", "100000", "--run-dir", str(run)])  # fmt: skip
    try:
        read_terminal(fd, (run / "checkpoints" / "last.pt").exists)
        status = end(pid, fd)
        fd = None
    finally:
        if fd is not None:
            end(pid, fd)
    assert status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130, status
    assert_saved_as_interrupted(run)


def test_leave_dead_terminal_points_stdio_away_from_a_hung_up_terminal(tmp_path):
    """In a process whose terminal has hung up: writes to stdout and stderr then succeed (to /dev/null), stdin
    waits instead of returning EOF at once, and SIGCONT is back to its default."""
    report = tmp_path / "report.json"
    code = f"""
import json, os, select, signal, time
from mnist_tui.runs.signals import leave_dead_terminal, terminal_hung_up
signal.signal(signal.SIGHUP, signal.SIG_IGN)
signal.signal(signal.SIGCONT, lambda *a: None)
while not terminal_hung_up(1):
    time.sleep(0.05)
out = {{"gone": leave_dead_terminal()}}
os.write(1, b"x"); os.write(2, b"y")  # raise OSError (EIO) on the dead terminal
out["stdin_waits"] = not select.select([0], [], [], 0.3)[0]
out["sigcont_default"] = signal.getsignal(signal.SIGCONT) == signal.SIG_DFL
out["again"] = leave_dead_terminal()
open({str(report)!r}, "w").write(json.dumps(out))
"""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvp(sys.executable, [sys.executable, "-c", code])
    time.sleep(0.5)
    status = end(pid, fd)
    assert status == 0, status
    assert json.loads(report.read_text()) == {"gone": True, "stdin_waits": True, "sigcont_default": True,
                                              "again": False}  # fmt: skip


def test_terminal_hung_up_is_false_for_files_and_pipes(tmp_path):
    read_end, write_end = os.pipe()
    try:
        with open(tmp_path / "f", "w") as f:
            assert not terminal_hung_up(f.fileno())
        assert not terminal_hung_up(read_end) and not terminal_hung_up(write_end)
    finally:
        os.close(read_end)
        os.close(write_end)
