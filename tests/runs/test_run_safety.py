"""A run directory that belongs to one trainer and one user, files no one can redirect, a socket no one can
deny or flood."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.cli import mnist_tui
from helpers.other_user import as_user, other_user, shared_dir, uid_of  # noqa: F401 (shared_dir: a fixture)
from mnist_tui.config import TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.engine.errors import RunDirError
from mnist_tui.runs import protocol
from mnist_tui.runs.protocol import MAX_LINE, MAX_VIEWERS, encode
from mnist_tui.runs.rundir import RunDirectory, check_directory
from mnist_tui.runs.start import resolve_run_dir
from mnist_tui.runs.server import RunServer

COMMON = ("--device", "cpu", "--batch-size", "50", "--eval-every", "5", "--threads", "1")


def created(path: Path, **kw) -> RunDirectory:
    run = RunDirectory(path, **kw)
    run.create(TrainConfig(), fresh=True)
    return run


# One run directory, one trainer ------------------------------------------------------------------------------
def test_a_second_trainer_on_a_run_being_trained_is_refused(synthetic_dir, tmp_path):
    run_dir = tmp_path / "run"
    result = mnist_tui("--dataset", str(synthetic_dir), *COMMON, "--max-steps", "4", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    holder = RunDirectory(run_dir)
    holder.create(holder.read_config(), fresh=False)  # this process trains it now (it holds the lock)
    try:
        before = (run_dir / "metrics.jsonl").read_bytes()
        for extra in (["--headless"], ["--detach"]):
            second = mnist_tui("--resume", str(run_dir), "--max-steps", "8", *extra)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and f"process {os.getpid()} is training this run" in lines[0], second.stderr
        assert (run_dir / "metrics.jsonl").read_bytes() == before  # nothing appended by the refused trainers
        assert json.loads((run_dir / "process.json").read_text())["pid"] == os.getpid()
        assert holder.is_locked()
    finally:
        holder.close()
    assert not RunDirectory(run_dir).is_locked()


def test_the_lock_goes_with_the_process(tmp_path):
    """A trainer killed outright leaves no lock behind: the kernel drops it with the process."""
    code = (
        "import sys, time; from mnist_tui.config import TrainConfig; from mnist_tui.runs.rundir import RunDirectory\n"
        f"r = RunDirectory({str(tmp_path / 'run')!r}); r.create(TrainConfig(), fresh=True); print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        assert RunDirectory(tmp_path / "run").is_locked()
        with pytest.raises(RunDirError, match=f"process {child.pid} is training this run"):
            RunDirectory(tmp_path / "run").create(TrainConfig(), fresh=False)
    finally:
        child.kill()
        child.wait()
    again = created(tmp_path / "other")
    again.close()
    run = RunDirectory(tmp_path / "run")
    run.create(TrainConfig(), fresh=False)  # free again
    run.close()


# Directories and files that belong to someone else -----------------------------------------------------------
def test_new_run_directories_are_private(tmp_path):
    run = created(tmp_path / "a" / "run")
    try:
        assert (run.path.stat().st_mode & 0o777) == 0o700
        assert (run.checkpoints.stat().st_mode & 0o777) == 0o700
    finally:
        run.close()


def test_a_run_directory_others_may_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(RunDirError, match="writable by group or others"):
        RunDirectory(shared).create(TrainConfig(), fresh=True)
    assert not (shared / "config.json").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="making a directory another user owns needs root")
def test_a_run_directory_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 12345, 12345)
    with pytest.raises(RunDirError, match="belongs to another user"):
        RunDirectory(theirs).create(TrainConfig(), fresh=True)


def test_a_planted_symlink_is_never_written_through(tmp_path):
    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")
    run = created(tmp_path / "run")
    run.close()
    (run.path / "metrics.jsonl").unlink(missing_ok=True)
    (run.path / "metrics.jsonl").symlink_to(victim)
    (run.path / ".config.json.tmp").symlink_to(victim)  # the fixed temporary name of earlier versions
    again = RunDirectory(run.path)
    with pytest.raises(RunDirError, match="metrics.jsonl: cannot write"):
        again.record(ev.Log("appended?"))
    again.write_config(TrainConfig(seed=5))  # through a private temporary file, renamed into place
    again.close()
    assert victim.read_text() == "precious\n"
    assert json.loads((run.path / "config.json").read_text())["seed"] == 5


# Paths the user names: where the user meant, and nowhere else -------------------------------------------------
FAST = ("--headless", "--device", "cpu", "--preset", "fast", "--max-steps", "20", "--eval-every", "10", "--threads", "1")


def victim_dir(tmp_path: Path) -> Path:
    """The user's own private directory, as ~/.ssh is, with a file in it."""
    victim = tmp_path / "ssh"
    victim.mkdir(mode=0o700)
    (victim / "authorized_keys").write_text("ssh-ed25519 AAAA mine\n")
    return victim


def listing(path: Path) -> dict[str, bytes | None]:
    """Everything under ``path``: each file's bytes (None for a directory)."""
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None for p in sorted(path.rglob("*"))}


def refused(result, *phrases: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(p in lines[0] for p in phrases), result.stderr


def test_a_run_dir_through_a_link_another_user_planted_in_a_shared_directory_is_refused(
    synthetic_dir, tmp_path, shared_dir
):
    """Before, SHTMP/alicerun -> ~/.ssh (planted by another user) put every file of the run into ~/.ssh:
    Path.resolve() followed the link, and the owner check then passed the victim's own directory."""
    other = other_user()
    victim = victim_dir(tmp_path)
    before = listing(victim)
    as_user(other, "ln", "-s", str(victim), str(shared_dir / "alicerun"))
    for run_dir in (shared_dir / "alicerun", shared_dir / "alicerun" / "sub"):
        result = mnist_tui(*FAST, "--dataset", str(synthetic_dir), "--run-dir", str(run_dir))
        refused(result, f"symbolic link {shared_dir / 'alicerun'}", f"belongs to another user (uid {uid_of(other)})")
    with pytest.raises(RunDirError, match="symbolic link"):  # every front end makes its run directory here
        resolve_run_dir(TrainConfig(run_dir=str(shared_dir / "alicerun")))
    assert listing(victim) == before


def test_resuming_through_a_link_another_user_planted_is_refused(tmp_path, shared_dir):
    other = other_user()
    run = created(tmp_path / "mine")  # a run of the user's own, that the link leads to
    run.close()
    before = listing(run.path)
    as_user(other, "ln", "-s", str(run.path), str(shared_dir / "alicerun"))
    for extra in (["--headless"], ["--detach"]):
        result = mnist_tui("--resume", str(shared_dir / "alicerun"), "--max-steps", "8", *extra)
        refused(result, "--resume", f"symbolic link {shared_dir / 'alicerun'}")
    with pytest.raises(RunDirError, match="symbolic link"):
        RunDirectory.resume(shared_dir / "alicerun")
    assert listing(run.path) == before


def test_a_link_of_another_user_is_refused_wherever_it_is(tmp_path):
    other = other_user()
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    home = tmp_path / "home"  # private to this user: only the link's owner is wrong
    home.mkdir(mode=0o700)
    (home / "runs").symlink_to(target)
    os.lchown(home / "runs", uid_of(other), uid_of(other))
    with pytest.raises(RunDirError, match=r"belongs to another user"):
        check_directory(home / "runs" / "run")
    theirs = tmp_path / "theirs"  # a directory of theirs: they could change the user's own link in it
    theirs.mkdir(mode=0o755)
    (theirs / "runs").symlink_to(target)
    os.chown(theirs, uid_of(other), uid_of(other))
    with pytest.raises(RunDirError, match=r"a directory of another user"):
        check_directory(theirs / "runs" / "run")
    assert list(target.iterdir()) == []


def test_a_link_of_ones_own_in_a_directory_others_may_write_is_refused(tmp_path, shared_dir):
    """Another user could have put it there as well (or changed it, in a directory without the sticky bit)."""
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (shared_dir / "mine").symlink_to(target)
    with pytest.raises(RunDirError, match=r"a directory others may write to \(mode 1777\)"):
        check_directory(shared_dir / "mine" / "run")


def test_ones_own_links_in_ones_own_directories_are_followed(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to("real")  # relative
    (real / "up").symlink_to("..")
    assert check_directory(tmp_path / "link" / "run") == real / "run"
    assert check_directory(tmp_path / "link" / "up" / "link" / "new" / ".." / "run") == real / "run"
    monkeypatch.chdir(tmp_path)
    assert check_directory("link/run") == real / "run"
    assert resolve_run_dir(TrainConfig(run_dir=str(tmp_path / "link" / "run"))).run_dir == str(real / "run")
    run = created(tmp_path / "link" / "run")
    run.close()
    assert (real / "run" / "config.json").is_file()


def test_a_fresh_run_in_a_directory_holding_other_files_is_refused(synthetic_dir, tmp_path):
    """Before, a fresh run overwrote the user's own summary.json and confusion.csv there and appended its
    events to a metrics.jsonl that was not a run's."""
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (mine / "summary.json").write_text('{"my": "summary"}\n')
    (mine / "confusion.csv").write_text("my,own\n")
    (mine / "metrics.jsonl").write_text('{"my": "metrics"}\n')
    before = listing(mine)
    result = mnist_tui(*FAST, "--dataset", str(synthetic_dir), "--run-dir", str(mine))
    refused(result, str(mine), "holds files that are not a run's (confusion.csv and 2 more)")
    for files in ({"metrics.jsonl"}, {"summary.json", "checkpoints"}):
        other = tmp_path / "-".join(sorted(files))
        other.mkdir(mode=0o700)
        for name in files:
            (other / name).mkdir() if name == "checkpoints" else (other / name).write_text("mine\n")
        (other / "checkpoints" / "mine.pt").write_bytes(b"x") if "checkpoints" in files else None
        with pytest.raises(RunDirError, match="holds files that are not a run's"):
            RunDirectory(other).create(TrainConfig(), fresh=True)
        assert {p.name for p in other.iterdir()} == files  # not even a lock left there
    assert listing(mine) == before


def test_a_fresh_run_may_use_an_empty_directory_or_one_a_run_began_in(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    begun = tmp_path / "begun"  # what a run makes before its config: a run that stopped right there
    begun.mkdir(mode=0o700)
    (begun / ".lock").write_bytes(b"")
    (begun / "process.json").write_text("{}")
    (begun / "checkpoints").mkdir(mode=0o700)
    for path in (empty, begun):
        run = created(path)
        run.close()
        assert (path / "config.json").is_file()


def test_a_run_dir_inside_another_run_is_refused(synthetic_dir, tmp_path):
    """Before, --run-dir RUN/checkpoints/x (or anywhere under RUN) made a second run inside the first."""
    run = created(tmp_path / "run")
    run.record(ev.Log("mine"))
    run.close()
    before = {p.relative_to(run.path) for p in run.path.rglob("*")}
    for inside in (run.path / "checkpoints" / "x", run.path / "sub" / "deeper"):
        result = mnist_tui(*FAST, "--dataset", str(synthetic_dir), "--run-dir", str(inside))
        refused(result, f"lies inside {run.path}, the directory of another run")
        with pytest.raises(RunDirError, match="the directory of another run"):
            RunDirectory(inside).create(TrainConfig(), fresh=True)
    assert {p.relative_to(run.path) for p in run.path.rglob("*")} == before
    project = tmp_path / "project"  # a config.json of some other tool is no run: runs may go under it
    project.mkdir()
    (project / "config.json").write_text("{}")
    assert check_directory(project / "runs" / "a") == project / "runs" / "a"


# The socket ------------------------------------------------------------------------------------------------
def test_a_taken_fallback_directory_does_not_deny_the_socket(tmp_path, monkeypatch):
    import tempfile

    deep = tmp_path / ("d" * 60) / ("e" * 60)  # too long a path for a socket address
    deep.mkdir(parents=True)
    fake_tmp = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))  # a short temp dir, as /tmp is
    taken = fake_tmp / f"mnist-tui-{os.getuid()}"
    taken.mkdir()
    taken.chmod(0o777)  # someone else's (or anyone's) directory, as another user would leave it
    monkeypatch.setattr(protocol.tempfile, "gettempdir", lambda: str(fake_tmp))
    monkeypatch.setattr(protocol.tempfile, "tempdir", str(fake_tmp))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    try:
        path = protocol.socket_path_for(deep)
        assert path.parent != taken and path.parent.parent == fake_tmp
        assert (path.parent.stat().st_mode & 0o777) == 0o700
    finally:
        import shutil

        shutil.rmtree(fake_tmp)


def scripted_run(run_dir: Path, control: Control, hold: "threading.Event"):  # noqa: F821
    """A run's events as a trainer would record and yield them, holding in the middle until ``hold`` is set."""
    run = created(run_dir)
    started = ev.RunStarted(
        run_dir=str(run.path), config=TrainConfig().to_dict(), device="cpu", device_name="cpu", torch_version="x",
        cuda_version=None, model_parameters=1, dataset="mnist", class_names=tuple("0123456789"), data_source="test",
        train_size=1, test_size=1, steps_per_epoch=1, total_steps=1,
    )  # fmt: skip
    run.record(started)
    yield started
    hold.wait(10)
    yield ev.StateChanged(ev.RunState.RUNNING, "training")
    run.close()


def test_a_socket_that_cannot_be_made_leaves_the_run_training(tmp_path, monkeypatch):
    import threading

    def refuse(run_dir):
        raise protocol.RemoteError("no private directory for the run's socket")

    monkeypatch.setattr("mnist_tui.runs.server.socket_path_for", refuse)
    hold = threading.Event()
    hold.set()
    events = list(RunServer(Control(), mode="app").wrap(scripted_run(tmp_path / "run", Control(), hold)))
    logs = [e for e in events if isinstance(e, ev.Log)]
    assert len(logs) == 1 and "no socket for viewers" in logs[0].message and logs[0].level == "warning"
    assert isinstance(events[-1], ev.StateChanged)
    assert json.loads((tmp_path / "run" / "process.json").read_text())["socket"] is None


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def served(tmp_path):
    """A run served on its socket, holding until the test ends; its Control and socket path."""
    import threading

    control, hold = Control(), threading.Event()
    server = RunServer(control, mode="app")
    stream = server.wrap(scripted_run(tmp_path / "run", control, hold))
    next(stream)  # RunStarted: the server listens now
    yield control, server
    hold.set()
    list(stream)


def connect(path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(str(path))
    return sock


def test_an_endless_line_drops_the_connection(served):
    control, server = served
    sock = connect(server.path)
    sock.sendall(b"x" * (MAX_LINE + 10))
    assert sock.recv(1) == b""  # hung up on
    sock.close()
    assert not control.stop_requested


def subscribed(path) -> socket.socket:
    """A viewer that the server has taken on: it has its hello line."""
    sock = connect(path)
    sock.sendall(encode({"op": "subscribe"}))
    assert sock.makefile("rb").readline().startswith(b'{"hello"')
    return sock


def test_viewers_are_capped(served):
    control, server = served
    socks = [subscribed(server.path) for _ in range(MAX_VIEWERS)]
    extra = connect(server.path)
    assert extra.recv(1) == b""
    for s in socks + [extra]:
        s.close()
    wait_until(lambda: server._connections == 0)
    with connect(server.path) as again:  # room again once they left
        again.sendall(encode({"op": "status"}))
        assert b"hello" in again.recv(4096)


@pytest.mark.parametrize(
    "message",
    [
        {"op": "set_lr", "lr": 1e999},
        {"op": "set_lr", "lr": "0.1"},
        {"op": "set_lr", "lr": True},
        {"op": "scale_lr", "factor": float("nan")},
        {"op": "set_early_stopping", "config": {"enabled": "no"}},
        {"op": "set_early_stopping", "config": {"patience": 1.5}},
        {"op": "set_early_stopping", "config": "all"},
        {"op": ["stop"]},
        [1, 2],
    ],
)
def test_bad_commands_change_nothing(served, message):
    control, server = served
    with connect(server.path) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        sock.sendall(encode({"op": "status"}))  # answered after the bad line: the server is still there
        assert b"hello" in sock.recv(4096)
    assert not control.has_changes and not control.stop_requested


def test_a_viewer_may_only_ask_to_stop(served):
    control, server = served
    with connect(server.path) as sock:
        sock.sendall(encode({"op": "stop", "reason": "completed"}))
        sock.sendall(encode({"op": "status"}))
        sock.recv(4096)
    assert control.stop_requested and control.stop_reason == ev.Reason.STOPPED


# A stop always ends the run -------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_stop_ends_the_loop_whatever_reason_it_carries(synthetic_dir, tmp_path):
    """Before, a stop whose reason was "completed" broke the inner loop while the outer one spun for good."""
    from helpers.engine import config, run_all

    control = Control()
    control.stop()
    control._stop_reason = ev.Reason.COMPLETED  # what a viewer could once send: {"op": "stop", "reason": ...}
    events = run_all(config(synthetic_dir, tmp_path / "run"), control)
    assert isinstance(events[-1], ev.RunFinished) and events[-1].iteration == 0


def test_control_takes_only_reasons_it_knows_and_a_signal_wins():
    control = Control()
    with pytest.raises(ValueError):
        control.stop("completed")
    control.stop(ev.Reason.DETACHED)
    control.stop(ev.Reason.STOPPED)
    assert control.stop_reason == ev.Reason.DETACHED  # the first reason stays...
    control.stop(ev.Reason.INTERRUPTED)
    assert control.stop_reason == ev.Reason.INTERRUPTED  # ...unless a signal comes: it always wins
