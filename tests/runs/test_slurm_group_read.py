"""``sweep --group-read``: a sweep that the owner's group can read (a cluster team's shared results), and
write to nothing. A real second user in a real group reads it when the tests run as root (skipped elsewhere);
without the option every file of the sweep stays private. The sweep's own checks still accept the directory:
the same command resumes it."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers.cli import mnist_tui

TRAINING = ("--device", "cpu", "--threads", "1", "--batch-size", "50", "--eval-every", "5", "--max-steps", "10")
GROUP, READER = "mnist-tui-team", "mnist-tui-reader"


@pytest.fixture
def team_dir():
    """A directory of the group GROUP (setgid: what is made in it is the group's), and a user of that group."""
    if os.getuid() != 0 or not all(shutil.which(c) for c in ("groupadd", "useradd", "runuser")):
        pytest.skip("needs root to make a group and a second user (groupadd, useradd, runuser)")
    for command in (["groupadd", GROUP], ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G",
                                          GROUP, READER]):  # fmt: skip
        made = subprocess.run(command, capture_output=True, text=True, check=False)
        if made.returncode not in (0, 9):  # 9: there already
            pytest.skip(f"{command[0]} failed: {made.stderr.strip()}")
    path = Path(tempfile.mkdtemp(prefix="mnist-tui-team-", dir="/tmp"))
    os.chown(path, 0, grp.getgrnam(GROUP).gr_gid)
    path.chmod(0o2750)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def reader(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", READER, "--", *command], capture_output=True, check=False)


def entries(sweep: Path) -> list[Path]:
    return [sweep, *sweep.rglob("*")]


@pytest.mark.parametrize("shared", [True, False])
def test_group_read_lets_the_group_read_the_sweep_and_write_nothing(team_dir, synthetic_dir, shared):
    sweep = team_dir / "sweep"
    command = ["sweep", "--dataset", str(synthetic_dir), *TRAINING, "--run-dir", str(sweep), "--headless"]
    command += ["--group-read"] if shared else []
    result = mnist_tui(*command)
    assert result.returncode == 0, result.stderr
    files = [p for p in entries(sweep) if p.is_file() and not p.is_symlink()]
    assert files
    for path in entries(sweep):
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert not mode & 0o022, f"{path} is writable by others ({mode:o})"
    readable = [str(p) for p in files if reader("head", "-c", "1", str(p)).returncode == 0]
    if shared:
        assert readable == [str(p) for p in files]
        assert reader("ls", str(sweep / "seed=0" / "checkpoints")).returncode == 0
        assert reader("touch", str(sweep / "planted")).returncode != 0
        assert reader("touch", str(sweep / "seed=0" / "planted")).returncode != 0
        again = mnist_tui(*command)  # the sweep's checks accept what --group-read made
        assert again.returncode == 0 and "kept" in again.stdout, (again.stdout, again.stderr)
    else:
        assert readable == []
