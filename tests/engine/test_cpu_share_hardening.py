"""The CPU-share claims cannot be turned against the user whose runs leave them (engine/cpu_share.py).

The claims live in a directory private to the user: another user can neither plant anything in it nor swap it for
a link or a directory of their own. Within it, a claim is read only if it is a small regular file, opened without
following a link or waiting; anything else under a claim's name counts as nothing and is removed. A directory that
fails the checks is not used (and never chmod-ed): the run keeps its threads and says why.

The tests that plant as another user run as a real second local user, created when the tests run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

import psutil
import pytest
import torch
from helpers.engine import DEADLINE, config, of, run_all
from helpers.other_user import other_user as make_other_user

from mnist_tui.engine import events as ev
from mnist_tui.engine.cpu_share import CLAIM_BYTES, SHARE_DIR_ENV, CpuShare, default_directory



@pytest.fixture
def claims(tmp_path) -> Path:
    """A claims directory as a run makes it: this user's, 0700."""
    path = tmp_path / "claims"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def other_run():
    """Another live process (a run of this user beside this one), with no claim yet."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def claim_of(pid: int) -> str:
    return f"{psutil.Process(pid).create_time():.3f}\n"


def count_in_a_thread(share: CpuShare, unblock: list[Path]) -> int:
    """``share.count()`` in a thread of its own, so that a count that waits fails the test instead of hanging
    it; if it waits on one of the FIFOs in ``unblock``, a writer opened and closed there lets it go."""
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(share.count()), daemon=True)
    worker.start()
    worker.join(DEADLINE)
    waited = worker.is_alive()
    if waited:
        for fifo in unblock:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        worker.join(DEADLINE)
    assert not waited, "the count waited on something in the claims directory"
    return result[0]


# --- what may be in the directory -------------------------------------------------------------------------------
def test_a_fifo_under_a_claims_name_is_not_waited_on_and_is_removed(claims, other_run):
    fifos = [claims / "999999", claims / str(other_run.pid)]  # a free id, and a live process's
    for fifo in fifos:
        os.mkfifo(fifo)
    share = CpuShare(4, claims)
    share.join()
    assert count_in_a_thread(share, fifos) == 1
    assert not any(fifo.exists() for fifo in fifos)


def test_a_big_file_under_a_claims_name_is_not_read(claims, other_run):
    big = claims / "1"  # process 1 is alive
    with open(big, "wb") as f:
        f.truncate(256 << 20)  # sparse: a quarter of a gigabyte on disk costs nothing, in memory it would
    padded = claims / str(other_run.pid)  # a live process's true start time, padded past a claim's size
    padded.write_text(claim_of(other_run.pid).strip() + " " * CLAIM_BYTES + "\n")
    share = CpuShare(4, claims)
    share.join()
    tracemalloc.start()
    try:
        live = share.count()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert live == 1
    assert peak < 1 << 20, f"the count allocated {peak} bytes: it read the big file"
    assert not big.exists() and not padded.exists()


@pytest.mark.parametrize("adaptive", [True, False], ids=["own-threads", "fixed-threads"])
def test_a_link_under_this_runs_name_is_replaced_and_its_target_left_alone(claims, tmp_path, adaptive):
    target = tmp_path / ".bashrc_test"
    target.write_text("export PATH\n")
    link = claims / str(os.getpid())
    link.symlink_to(target)
    share = CpuShare(2, claims, adaptive=adaptive)
    share.join()
    assert share.problem is None
    assert target.read_text() == "export PATH\n"
    assert stat.S_ISREG(os.lstat(link).st_mode) and link.read_text() == claim_of(os.getpid())
    share.leave()
    assert not os.path.lexists(link) and target.read_text() == "export PATH\n"


def test_a_link_under_another_runs_name_is_not_followed_and_is_removed(claims, tmp_path, other_run):
    target = tmp_path / "looks-like-a-claim"
    target.write_text(claim_of(other_run.pid))  # what that run's claim would say
    link = claims / str(other_run.pid)
    link.symlink_to(target)
    share = CpuShare(4, claims)
    share.join()
    assert count_in_a_thread(share, []) == 1
    assert not os.path.lexists(link) and target.read_text() == claim_of(other_run.pid)


@pytest.mark.parametrize(
    "content", [b"", b"\n", b"hello\n", b"nan\n", b"inf\n", b"-5\n", b"0\n", "٣.0\n".encode(), b"\xff\n"]
)
def test_an_empty_or_garbage_claim_counts_as_nothing_and_is_removed(claims, other_run, content):
    planted = [claims / "1", claims / str(other_run.pid)]  # both processes are alive
    for path in planted:
        path.write_bytes(content)
    share = CpuShare(4, claims)
    share.join()
    assert share.start() is None and share.current == 4  # not halved
    assert not any(path.exists() for path in planted)


@pytest.mark.parametrize("threads", ["0", "-2", "x", "2 3", "1e9"])
def test_a_claim_with_a_bad_thread_count_counts_as_nothing_and_is_removed(claims, other_run, threads):
    """A live process's true start time with a thread count that is none: not a claim, so nothing is held."""
    planted = claims / str(other_run.pid)
    planted.write_text(claim_of(other_run.pid).strip() + f" {threads}\n")
    share = CpuShare(4, claims)
    assert share.start() is None and share.current == 4
    assert not planted.exists()


def test_a_directory_under_a_claims_name_is_not_counted(claims, other_run):
    (claims / str(other_run.pid)).mkdir()
    share = CpuShare(4, claims)
    share.join()
    assert share.count() == 1


def test_a_temporary_claim_of_an_ended_process_is_removed(claims):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    leftover = claims / f"{ended.pid}.tmp"
    leftover.write_text("1.0\n")
    own_leftover = claims / f"{os.getpid()}.tmp"
    own_leftover.symlink_to(claims / "elsewhere")  # an earlier process with this id, ended while writing
    share = CpuShare(4, claims)
    share.join()
    assert share.problem is None and not own_leftover.exists() and not (claims / "elsewhere").exists()
    assert share.count() == 1
    assert not leftover.exists()


# --- the directory itself ---------------------------------------------------------------------------------------
def test_a_link_in_place_of_the_directory_is_refused_and_its_target_untouched(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link = tmp_path / "claims"
    link.symlink_to(private)
    share = CpuShare(4, link)
    share.join()
    assert share.problem and "it is a symbolic link" in share.problem and "keeps its threads" in share.problem
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
    assert list(private.iterdir()) == []
    assert share.start() is None and share.current == 4


def test_a_directory_others_may_write_to_is_refused_and_not_chmodded(tmp_path):
    open_dir = tmp_path / "claims"
    open_dir.mkdir()
    open_dir.chmod(0o1777)
    share = CpuShare(4, open_dir)
    share.join()
    assert share.problem and "other users may write to it (mode 1777)" in share.problem
    assert stat.S_IMODE(os.stat(open_dir).st_mode) == 0o1777
    assert list(open_dir.iterdir()) == []


def test_a_file_in_place_of_the_directory_is_refused(tmp_path):
    (tmp_path / "claims").write_text("")
    share = CpuShare(4, tmp_path / "claims")
    share.join()
    assert share.problem and "it is not a directory" in share.problem
    assert share.count() == 1


@pytest.fixture
def temporary_directory(tmp_path, monkeypatch) -> Path:
    """A temporary directory of the system's kind (world-writable, sticky) that the tests' second user can reach,
    made the process's temporary directory, with no runtime directory and no configured claims directory."""
    shared = Path(tempfile.mkdtemp(prefix="mnist-tui-cpu-share-test-", dir="/tmp"))
    shared.chmod(0o1777)
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv(SHARE_DIR_ENV, raising=False)
    yield shared
    shutil.rmtree(shared, ignore_errors=True)


def test_the_default_directory_is_made_private_to_the_user(temporary_directory):
    share = CpuShare(2)
    assert share.directory == temporary_directory / f"mnist-tui-cpu-share-{os.getuid()}"
    share.join()
    st = os.lstat(share.directory)
    assert share.problem is None and stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
    assert st.st_mode & 0o077 == 0
    assert (share.directory / str(os.getpid())).read_text() == claim_of(os.getpid())


def test_the_runtime_directory_holds_the_claims_only_when_it_is_private(temporary_directory, tmp_path, monkeypatch):
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert default_directory() == runtime / "mnist-tui-cpu-share"
    runtime.chmod(0o755)  # not a runtime directory of this user's: the temporary directory instead
    assert default_directory() == temporary_directory / f"mnist-tui-cpu-share-{os.getuid()}"


def test_a_run_beside_a_refused_directory_keeps_its_threads_and_says_why(synthetic_dir, tmp_path, monkeypatch):
    """The trainer: the directory configured for the claims is a link; the run trains on all its threads, logs
    one warning, and finishes; the link's target is untouched."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (tmp_path / "claims").symlink_to(private)
    monkeypatch.setenv(SHARE_DIR_ENV, str(tmp_path / "claims"))
    torch.set_num_threads(2)
    events = run_all(config(synthetic_dir, tmp_path / "runs" / "r", epochs=1, eval_every=1000))
    assert of(events, ev.RunStarted)[0].threads == 2
    warnings = [e.message for e in of(events, ev.Log) if "runs sharing this CPU cannot be counted" in e.message]
    assert len(warnings) == 1 and "it is a symbolic link" in warnings[0]
    assert of(events, ev.RunFinished)[0].reason == "completed"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o700 and list(private.iterdir()) == []


# --- another user on the same machine ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def other_user() -> str:
    """A second local user, made when the tests run as root (as CI does); skipped otherwise."""
    return make_other_user()


def as_other_user(user: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", user, "--", "sh", "-c", script], capture_output=True, text=True, timeout=DEADLINE
    )


def test_another_user_cannot_plant_anything_among_the_claims(temporary_directory, tmp_path, other_user):
    victim_file = tmp_path / ".bashrc_test"
    victim_file.write_text("export PATH\n")
    share = CpuShare(4)
    share.join()  # makes the directory, where anyone can tell it will be
    d = share.directory
    future = os.getpid() + 1
    attempts = {
        "a FIFO": f"mkfifo {d}/999999",
        "a sparse big file": f"truncate -s 1536M {d}/1",
        "a link named by a future process id": f"ln -s {victim_file} {d}/{future}",
        "an empty file": f": > {d}/1",
    }
    for what, script in attempts.items():
        planted = as_other_user(other_user, script)
        assert planted.returncode != 0, f"{other_user} could plant {what} among the claims"
    assert sorted(os.listdir(d)) == [str(os.getpid())]
    assert count_in_a_thread(share, []) == 1
    assert stat.S_IMODE(os.lstat(d).st_mode) & 0o077 == 0


def test_another_users_directory_in_its_place_is_refused(temporary_directory, other_user):
    where = temporary_directory / f"mnist-tui-cpu-share-{os.getuid()}"
    planted = as_other_user(other_user, f"mkdir -m 1777 {where} && mkfifo {where}/999999 && : > {where}/1")
    assert planted.returncode == 0, planted.stderr
    share = CpuShare(4)
    share.join()
    assert share.problem and f"it belongs to user id {pwd.getpwnam(other_user).pw_uid}" in share.problem
    assert count_in_a_thread(share, [where / "999999"]) == 1
    assert share.start() is None and share.current == 4
    assert sorted(os.listdir(where)) == ["1", "999999"]  # nothing written there, nothing of theirs removed


def test_another_users_link_in_place_of_the_directory_leaves_its_target_alone(temporary_directory, other_user):
    private = temporary_directory / "victim-private"  # this user's own private directory
    private.mkdir(mode=0o700)
    where = temporary_directory / f"mnist-tui-cpu-share-{os.getuid()}"
    planted = as_other_user(other_user, f"ln -s {private} {where}")
    assert planted.returncode == 0, planted.stderr
    share = CpuShare(4)
    share.join()
    assert share.problem and "it is a symbolic link" in share.problem
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
    assert list(private.iterdir()) == []
    assert share.count() == 1
