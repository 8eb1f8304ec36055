"""A second local user, for what another user of a shared machine could do: a real account (``useradd``), and
commands run as it (``runuser``). Only root can make one: elsewhere the tests that need it are skipped, saying
why. ``shared_dir`` is a directory like /tmp: everyone may write to it, the sticky bit set."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

NAME = "mnist-tui-other"


def other_user() -> str:
    """The second user's name (made once); skips the test when this process cannot make one."""
    if os.getuid() != 0:
        pytest.skip("needs root: a second local user is made with useradd and acts through runuser")
    if not (shutil.which("useradd") and shutil.which("runuser")):
        pytest.skip("needs useradd and runuser to act as a second local user")
    try:
        pwd.getpwnam(NAME)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", NAME], capture_output=True, text=True
        )
        if made.returncode not in (0, 9):  # 9: made meanwhile by another test process
            pytest.skip(f"useradd {NAME} failed: {made.stderr.strip()}")
    return NAME


def as_user(user: str, *command: str) -> None:
    """Run ``command`` as ``user`` (it must succeed)."""
    subprocess.run(["runuser", "-u", user, "--", *command], check=True, capture_output=True, text=True)


def uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A fresh directory everyone may write to, sticky as /tmp is (mode 1777), that every user can reach."""
    path = Path(tempfile.mkdtemp(prefix="mnist-tui-shared-", dir="/tmp"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
