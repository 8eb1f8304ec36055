"""Replay hostile and clumsy input against real runs and print how each case was handled.

    python scripts/hostile_replay.py [--dataset DIR|mnist]

Starts real runs (``mnist-tui --detach``, headless runs, sweeps, the app in tmux) on a small synthetic set in the
real MNIST file format unless --dataset is given, then throws at them:

- messages on a live run's socket (a stop that claims the run completed, an endless line, too many viewers,
  out-of-range and mistyped settings, garbage, set_lr 1e300 then scale_lr 1e308);
- CPU-share claims planted by another user (a FIFO, a sparse 1.5 GB file, links named by future pids, a link in
  place of the directory, empty and garbage claims; the old shared /tmp directory) and the same junk in the
  user's own claims directory;
- paths: run and sweep directories through planted links, a planted ``logs`` link, export targets that are the
  run's own metrics, a FIFO, a device or a link to /proc/self/fd/1, a directory holding the user's own files, a
  run directory inside another run;
- bounded inputs: an IDX header announcing 2,000,000 images, a 13000x13000 PNG, 100,000-deep JSON read by
  compare/export/runs/sweep --report, a run_finished with a string accuracy, non-object lines for attach's
  client, huge and deep keymaps, a sweep .lock link and a FIFO sweep.json, escape sequences in directory names,
  two SIGTERMs during start-up, ``--detach | head -1``;
- sweeps racing (a refused second sweep, --only task logs, a run killed with kill -9 before its first checkpoint);
- hang-ups (tmux kill-session of the app's terminal, sixteen viewers that never read, kill -9 mid-checkpoint).

Cases that need a second local user (to plant something in a shared place) make one (``useradd``) and plant as
it (``runuser``) when the script runs as root; elsewhere they are reported as skipped. Every child runs with a
time limit, and those reading an input that a regression would read whole (data set headers, images, JSON,
keymaps, claims) with a 4 GiB address-space limit (the fixes refuse before allocating; a regression fails, it
does not eat the machine). Prints one line per case: ok / FAIL / skip, what was done, what happened. At the end: how many
bad inputs were tried, and whether anything was lost (the victim's files, the run directories, each with its
summary.json). Exit code 1 if any case was not handled as expected or anything was lost.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

RESULTS: list[tuple[str, str, bool]] = []
SKIPPED: list[tuple[str, str]] = []
MEMORY_LIMIT = 4 << 30  # address space of every child: a regression that allocates gigabytes fails instead
MUST_END: list[Path] = []  # run directories that must end with summary.json (checked at the end)
STARTED: list[subprocess.Popen] = []  # processes started here, ended at the end if still running
TEMPORARY = re.compile(r"\..+\.pt\.[A-Za-z0-9_]{8}\.tmp")  # atomic_write's name for a checkpoint being written


def report(case: str, outcome: str, ok: bool) -> None:
    RESULTS.append((case, outcome, ok))
    print(f"{'ok  ' if ok else 'FAIL'} {case:<58} {outcome}", flush=True)


def skip(case: str, why: str) -> None:
    SKIPPED.append((case, why))
    print(f"skip {case:<58} {why}", flush=True)


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


ENV: dict[str, str] = {}  # the children's environment (set in main: private data, config and claims directories)


def child_env(drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", **ENV)
    env.update(extra)
    for name in drop:
        env.pop(name, None)
    return env


def cli(*args: str, timeout: int = 120, env: dict[str, str] | None = None, stdin=None,
        limit: bool = False) -> subprocess.CompletedProcess:  # fmt: skip
    """``mnist-tui ARGS`` with a time limit (and ``limit``: the memory limit, for the cases where a regression
    would allocate gigabytes; not for a run that serves viewers, whose threads each reserve address space); a
    run past the time limit is killed and answered with exit code 124 and '(timed out)' on stderr."""
    command = [sys.executable, "-m", "mnist_tui", *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env or child_env(), timeout=timeout,
                              preexec_fn=_limit_memory if limit else None, stdin=stdin if stdin is not None else subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return subprocess.CompletedProcess(command, 124, out, err + f"\n(timed out after {timeout} s)")


def start(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """``mnist-tui ARGS`` in the background, in a session of its own (ended at the end if still running)."""
    process = subprocess.Popen([sys.executable, "-m", "mnist_tui", *args], env=env or child_env(),
                               start_new_session=True, stdin=subprocess.DEVNULL,
                               **popen)  # fmt: skip
    STARTED.append(process)
    return process


def one_line_exit_2(result: subprocess.CompletedProcess) -> tuple[str, bool]:
    lines = result.stderr.strip().splitlines()
    first = lines[0] if lines else "(nothing on stderr)"
    ok = result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    return f"exit {result.returncode}: {first[:110]}", ok


def quiet(result: subprocess.CompletedProcess) -> tuple[str, bool]:
    """A command that read something damaged: exit 0, or one line and a non-zero exit; never a traceback."""
    lines = result.stderr.strip().splitlines()
    tail = f": {lines[0][:100]}" if lines else ""
    clean = "Traceback" not in result.stderr and "RecursionError" not in result.stderr + result.stdout
    ok = clean and result.returncode != 124 and (result.returncode == 0 or len(lines) == 1)
    return f"exit {result.returncode}{tail}", ok


def wait_for(predicate, seconds: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and directory under ``root`` (not following links): its type, mode, owner and content hash."""
    seen: dict[str, tuple] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        digest = ""
        if stat.S_ISREG(info.st_mode):  # a large file (a sparse 1.5 GB one) by its size and time, never read whole
            small = info.st_size <= 1 << 20
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if small else f"{info.st_size}@{info.st_mtime_ns}"
        link = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
        seen[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_uid,
                                             digest, link)  # fmt: skip
    return seen


# --- the second user -------------------------------------------------------------------------------------------
class SecondUser:
    """Another local user (tests/helpers/other_user.py), or why there is none here."""

    def __init__(self) -> None:
        import pytest

        from helpers.other_user import other_user

        self.name: str | None = None
        self.why = ""
        try:
            self.name = other_user()
        except pytest.skip.Exception as exc:
            self.why = f"skipped: {exc.msg}"
        except Exception as exc:  # noqa: BLE001 - no second user, whatever the reason: the cases are skipped
            self.why = f"skipped: no second user ({exc})"

    def __bool__(self) -> bool:
        return self.name is not None

    def do(self, *command: str) -> None:
        """Run ``command`` as the second user; CalledProcessError with its stderr if it fails."""
        from helpers.other_user import as_user

        try:
            as_user(self.name, *command)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"as {self.name}: {shlex.join(command)}: {exc.stderr.strip()}") from None

    def uid(self) -> int:
        from helpers.other_user import uid_of

        return uid_of(self.name)


def next_pids(n: int) -> list[int]:
    """The process ids the next processes will get (the ones a planter would name its links after)."""
    try:
        last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    except (OSError, ValueError):
        last = os.getpid()
    return [last + i for i in range(1, n + 1)]


# --- the socket of a live run ----------------------------------------------------------------------------------
def send(path: str, payload: bytes, *, read: bool = True) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(payload)
        if not read:
            return b""
        try:
            return sock.recv(65536)
        except OSError:
            return b""


def status(path: str) -> dict:
    """The run's hello (retried for a few seconds: the server may still be counting viewers that just left)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return json.loads(send(path, b'{"op": "status"}\n').splitlines()[0])["hello"]
        except (OSError, IndexError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def socket_cases(run_dir: Path) -> None:
    process = json.loads((run_dir / "process.json").read_text())
    path = process["socket"]
    status(path)

    def answers(payload: bytes) -> bytes:
        try:
            return send(path, payload)
        except OSError as exc:
            return f"({exc.strerror or exc})".encode()

    answer = answers(b"x" * (80 * 1024))
    report("socket: an 80 KiB line without a newline", f"connection dropped ({len(answer)} bytes answered)",
           answer == b"")  # fmt: skip
    for message in (
        {"op": "set_lr", "lr": 1e999},
        {"op": "set_lr", "lr": True},
        {"op": "set_early_stopping", "config": {"enabled": "no"}},
        {"op": ["pause"]},
        "garbage",
    ):
        line = json.dumps(message).encode() + b"\n" + b'{"op": "status"}\n'
        answered = b"hello" in answers(line)
        report(f"socket: {json.dumps(message)[:50]}", "ignored; the server still answers" if answered else "no answer",
               answered)  # fmt: skip
    # 3. An lr whose product is not a finite number is refused and the lr stays; the run trains on (and
    # metrics.jsonl gets no Infinity: checked once the run has ended).
    answers(json.dumps({"op": "set_lr", "lr": 1e300}).encode() + b"\n")
    time.sleep(0.5)
    answers(json.dumps({"op": "scale_lr", "factor": 1e308}).encode() + b"\n")
    time.sleep(1.0)
    try:
        outcome, ok = f"the run trains on, lr {status(path).get('lr')!r}", True
    except (OSError, IndexError, ValueError, KeyError):
        wait_for(lambda: (run_dir / "summary.json").exists(), 30)
        summary = read_json(run_dir / "summary.json")
        outcome, ok = f"the run ENDED {summary.get('reason')!r}: {str(summary.get('message'))[:70]}", False
    report("socket: set_lr 1e300 then scale_lr 1e308", outcome, ok)
    if ok:
        answers(json.dumps({"op": "stop", "reason": "completed"}).encode() + b"\n")
        # The stop is honoured as the user's stop; the run ends "stopped" (checked by the caller), it never spins.
        report("socket: stop claiming reason 'completed'", "asked to stop (reason checked below)", True)


def viewer_cap(path: str) -> None:
    socks = []
    refused = 0
    try:
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(path)
                s.sendall(b'{"op": "subscribe"}\n')
            except OSError:  # the listen queue is full (EAGAIN): not served either
                s.close()
                refused += 1
                continue
            socks.append(s)
            time.sleep(0.01)
        served = 0
        for s in socks:
            try:
                served += bool(s.recv(1))
            except OSError:
                pass
        report("socket: 40 viewers at once", f"{served} served, {40 - served - refused} hung up on, {refused} not "
               "accepted", served <= 16)
    finally:
        for s in socks:
            s.close()


def metrics_have_infinity(run_dir: Path) -> list[str]:
    text = (run_dir / "metrics.jsonl").read_text(errors="replace")
    return [word for word in ("Infinity", "NaN") if word in text]


# --- 1. CPU-share claims ---------------------------------------------------------------------------------------
def cpu_share_cases(ctx: "Context") -> None:
    section("1. CPU-share claims")
    other, shtmp, victim = ctx.other, ctx.shtmp, ctx.victim
    keys = victim / ".ssh" / "authorized_keys"
    # Runs whose threads nobody fixed (they count the claims), with the default claims directory: TMPDIR is a
    # sticky shared directory like /tmp (no XDG_RUNTIME_DIR), so the run uses SHTMP/mnist-tui-cpu-share-UID.
    share_env = child_env(drop=("OMP_NUM_THREADS", "XDG_RUNTIME_DIR", "MNIST_TUI_CPU_SHARE_DIR"), TMPDIR=str(shtmp))
    default = shtmp / f"mnist-tui-cpu-share-{os.getuid()}"
    adaptive = [a for a in ctx.common if a not in ("--threads", "1")]

    def share_run(name: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, Path, float]:
        run_dir = ctx.base / name
        t0 = time.monotonic()
        result = cli(*adaptive, "--max-steps", "12", "--headless", "--run-dir", str(run_dir), env=env, timeout=120,
                     limit=True)  # fmt: skip
        MUST_END.append(run_dir)
        return result, run_dir, time.monotonic() - t0

    def finished(result, run_dir) -> bool:
        return result.returncode == 0 and (run_dir / "summary.json").exists() and "Traceback" not in result.stderr

    def refusal(result) -> str:
        """Why the run said it keeps its threads (the claims directory refused), from its log line."""
        found = re.search(r"mnist-tui-cpu-share-\d+: (.*?)\)?\s*$", result.stdout + result.stderr, re.MULTILINE)
        return f"claims dir refused: {found.group(1)[:70]}" if found else "(no line about the claims directory)"

    # The user's own claims directory holding junk (what a crash or a mistake could leave): nothing is waited
    # on or read whole, links are not followed, the junk under claims' names is removed.
    own = ctx.base / "own-claims"
    own.mkdir(mode=0o700)
    live_pids = [p for p in (1, os.getpid(), os.getppid()) if alive(p)]
    fifo_pid, link_pid = live_pids[0], live_pids[-1]
    os.mkfifo(own / str(fifo_pid))
    with open(own / "2", "wb") as f:  # pid 2 (kthreadd) is alive on Linux
        f.truncate(1500 << 20)
    os.symlink(keys, own / str(link_pid + 100000))
    (own / "3").write_bytes(b"")
    garbage = {"4": b"abc\n", "5": b"1e999\n", "6": b"-5\n", "7": b"nan\n", "8": b"\x00" * 40, "9": b"9" * 60}
    for name, content in garbage.items():
        (own / name).write_bytes(content)
    env = child_env(drop=("OMP_NUM_THREADS", "XDG_RUNTIME_DIR"), MNIST_TUI_CPU_SHARE_DIR=str(own))
    result, run_dir, took = share_run("share-own", env)
    left = sorted(p.name for p in own.iterdir())
    report("cpu share (own dir): FIFO, sparse 1.5 GB, link, empty, garbage", f"exit {result.returncode} in {took:.0f} s; "
           f"junk left: {left or 'none'}", finished(result, run_dir) and not left)  # fmt: skip

    if not other:
        for case in ("another user's FIFO in the share dir", "another user's sparse 1.5 GB claim",
                     "another user's links named by future pids", "another user's empty and garbage claims",
                     "another user's link in place of the share dir", "the old shared dir /tmp/mnist-tui-cpu-share"):  # fmt: skip
            skip(f"cpu share: {case}", other.why)
        return

    # Another user got to the directory the victim's run would use first, and filled it.
    old = Path("/tmp/mnist-tui-cpu-share")  # where every user's claims were, before they became private
    made_old = not old.exists()
    planted_old: list[Path] = []
    try:
        other.do("mkdir", "-m", "777", str(default))
        other.do("mkfifo", str(default / "1"))
        other.do("truncate", "-s", "1500M", str(default / str(os.getpid())))
        future = next_pids(300)
        other.do("sh", "-c", f"cd {shlex.quote(str(default))} && for p in {' '.join(map(str, future))}; do "
                 f"ln -s {shlex.quote(str(keys))} $p 2>/dev/null; done; : > 2; printf abc > 3; printf 1e999 > 4")  # fmt: skip
        if made_old:
            other.do("mkdir", "-m", "1777", str(old))
        tag = 4000000 + os.getpid() % 100000  # names of our own, not real claims of anyone's run
        for name, command in ((f"{tag}", ("mkfifo",)), (f"{tag + 1}", ("truncate", "-s", "1500M")),
                              (f"{tag + 2}", ("ln", "-s", str(keys)))):  # fmt: skip
            other.do(*command, str(old / name))
            planted_old.append(old / name)
    except RuntimeError as exc:
        report("cpu share: planting as another user", str(exc)[:110], False)
        return
    before = snapshot(default)
    old_before = {p.name: p.lstat() for p in planted_old}
    result, run_dir, took = share_run("share-planted", share_env)
    after = snapshot(default)
    done = finished(result, run_dir)
    untouched = before == after
    said = refusal(result)
    report("cpu share: another user's FIFO in the share dir", f"exit {result.returncode} in {took:.0f} s; {said}",
           done and untouched)  # fmt: skip
    report("cpu share: another user's sparse 1.5 GB claim", f"not read (4 GiB limit, exit {result.returncode}); "
           f"dir {'untouched' if untouched else 'CHANGED'}", done and untouched)  # fmt: skip
    report("cpu share: another user's links named by future pids", f"{len(future)} links; "
           f"{'nothing written through them' if untouched else 'dir CHANGED'}", done and untouched)  # fmt: skip
    report("cpu share: another user's empty and garbage claims", f"dir {'untouched' if untouched else 'CHANGED'}, "
           f"run ended (exit {result.returncode})", done and untouched)  # fmt: skip
    ours = [p.name for p in old.iterdir() if p.is_file() and not p.is_symlink() and p.stat().st_uid == os.getuid()] \
        if old.is_dir() else []  # fmt: skip
    same = all(p.lstat().st_ino == old_before[p.name].st_ino for p in planted_old if os.path.lexists(p))
    report("cpu share: the old shared dir /tmp/mnist-tui-cpu-share", "not used: planted FIFO, 1.5 GB file and link "
           f"{'left as they were' if same else 'CHANGED'}; claims of ours there: {len(ours)}", done and same)  # fmt: skip

    # Another user's link in place of the directory, to a directory of the victim's.
    ssh_mode = stat.S_IMODE((victim / ".ssh").stat().st_mode)
    other.do("rm", "-rf", str(default))
    other.do("ln", "-s", str(victim / ".ssh"), str(default))
    result, run_dir, took = share_run("share-link", share_env)
    mode_after = stat.S_IMODE((victim / ".ssh").stat().st_mode)
    names = sorted(p.name for p in (victim / ".ssh").iterdir())
    report("cpu share: another user's link in place of the share dir", f"exit {result.returncode}; .ssh mode "
           f"{mode_after:o} (was {ssh_mode:o}), holds {names}; {refusal(result)}",
           finished(result, run_dir) and mode_after == ssh_mode and names == ["authorized_keys"])  # fmt: skip
    other.do("rm", "-f", str(default))
    for path in planted_old:
        path.unlink(missing_ok=True)
    if made_old:
        shutil.rmtree(old, ignore_errors=True)


# --- 2. Paths --------------------------------------------------------------------------------------------------
def path_cases(ctx: "Context") -> None:
    section("2. Paths")
    other, shtmp, victim, base = ctx.other, ctx.shtmp, ctx.victim, ctx.base
    if other:
        other.do("ln", "-s", str(victim / ".ssh"), str(shtmp / "alicerun"))
        outcome, ok = one_line_exit_2(cli(*ctx.common, "--max-steps", "2", "--headless",
                                          "--run-dir", str(shtmp / "alicerun")))  # fmt: skip
        names = sorted(p.name for p in (victim / ".ssh").iterdir())
        report("path: --run-dir SHTMP/alicerun -> the victim's ~/.ssh", outcome, ok and names == ["authorized_keys"])
        (victim / "sweeps").mkdir(mode=0o700)
        other.do("ln", "-s", str(victim / "sweeps"), str(shtmp / "alicesweep"))
        outcome, ok = one_line_exit_2(cli("sweep", *ctx.sweep_opts, "--seeds", "0", "--headless",
                                          "--run-dir", str(shtmp / "alicesweep")))  # fmt: skip
        report("path: sweep --run-dir through another user's link", outcome,
               ok and not any((victim / "sweeps").iterdir()))  # fmt: skip
    else:
        skip("path: --run-dir SHTMP/alicerun -> the victim's ~/.ssh", other.why)
        skip("path: sweep --run-dir through another user's link", other.why)
    logs = base / "sweep-logs-link"
    logs.mkdir(mode=0o700)
    (logs / "logs").symlink_to(victim / ".ssh")
    outcome, ok = one_line_exit_2(cli("sweep", *ctx.sweep_opts, "--seeds", "0", "--headless", "--run-dir", str(logs)))
    names = sorted(p.name for p in (victim / ".ssh").iterdir())
    report("path: a sweep whose logs is a link to ~/.ssh", outcome, ok and names == ["authorized_keys"])

    live = ctx.live
    metrics = (live / "metrics.jsonl").read_bytes()
    outcome, ok = one_line_exit_2(cli("export", str(live), "--csv", str(live / "metrics.jsonl")))
    report("path: export RUN --csv RUN/metrics.jsonl", outcome, ok and (live / "metrics.jsonl").read_bytes() == metrics)
    targets = base / "export-targets"
    targets.mkdir(mode=0o700)
    os.mkfifo(targets / "fifo")
    outcome, ok = one_line_exit_2(cli("export", str(live), "--csv", str(targets / "fifo"), timeout=30))
    report("path: export --csv a FIFO", outcome, ok and stat.S_ISFIFO((targets / "fifo").lstat().st_mode))
    try:
        os.mknod(targets / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        outcome, ok = one_line_exit_2(cli("export", str(live), "--csv", str(targets / "null"), timeout=30))
        report("path: export --csv a char device (mknod c 1 3)", outcome, ok and stat.S_ISCHR((targets / "null").lstat().st_mode))
    except PermissionError as exc:
        skip("path: export --csv a char device (mknod c 1 3)", f"mknod: {exc.strerror} (needs root)")
    (targets / "stdout").symlink_to("/proc/self/fd/1")
    result = cli("export", str(live), "--csv", str(targets / "stdout"), timeout=30)
    outcome, ok = one_line_exit_2(result)
    report("path: export --csv a link to /proc/self/fd/1", outcome,
           ok and "run," not in result.stdout and (targets / "stdout").is_symlink())  # fmt: skip

    mine = base / "my-files"
    mine.mkdir(mode=0o700)
    (mine / "summary.json").write_text("my own summary\n")
    (mine / "confusion.csv").write_text("my own confusion\n")
    before = snapshot(mine)
    outcome, ok = one_line_exit_2(cli(*ctx.common, "--max-steps", "2", "--headless", "--run-dir", str(mine)))
    report("path: a fresh run in a dir holding my summary.json", outcome, ok and snapshot(mine) == before)
    inner = live / "checkpoints" / "inner"
    outcome, ok = one_line_exit_2(cli(*ctx.common, "--max-steps", "2", "--headless", "--run-dir", str(inner)))
    report("path: --run-dir inside another run's checkpoints/", outcome, ok and not inner.exists())


# --- 3. Bounds -------------------------------------------------------------------------------------------------
def write_png(path: Path, width: int, height: int) -> None:
    """A blank greyscale PNG of width x height, written a few rows at a time (never held whole)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        squash = zlib.compressobj(9)
        rows = bytes(width + 1) * 100
        data = b"".join(squash.compress(rows) for _ in range(height // 100)) + squash.flush()
        f.write(chunk(b"IDAT", data) + chunk(b"IEND", b""))


def fake_run_server(path: str, lines: list[bytes]) -> threading.Thread:
    """A server on ``path`` that answers one viewer with ``lines`` and hangs up."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(30)

    def serve() -> None:
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                conn.recv(4096)
                for line in lines:
                    conn.sendall(line + b"\n")
        except OSError:
            pass
        finally:
            server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


# The app's keymap loader, wherever the ui package keeps it (ui/keymap.py, or a subpackage since ui was split).
KEYMAP_LOADER = """
import importlib, pkgutil, mnist_tui.ui as ui
for module in pkgutil.walk_packages(ui.__path__, "mnist_tui.ui."):
    if module.name.rsplit(".", 1)[-1] == "keymap":
        load_keymap = importlib.import_module(module.name).load_keymap
        break
"""


def bound_cases(ctx: "Context") -> None:
    section("3. Bounds")
    base, live = ctx.base, ctx.live
    # A small .gz IDX file whose header announces 2,000,000 images.
    big = base / "idx-2m"
    big.mkdir()
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(Path(ctx.dataset) / name, big / name)
    with gzip.open(big / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 2_000_000, 28, 28) + bytes(28 * 28 * 100))
    outcome, ok = one_line_exit_2(cli("--dataset", str(big), "--device", "cpu", "--headless",
                                      "--run-dir", str(base / "idx-2m-run"), limit=True))  # fmt: skip
    report("data: a small .gz IDX announcing 2,000,000 images", outcome, ok)

    png = base / "huge.png"
    write_png(png, 13000, 13000)
    result = cli("predict", str(live), str(png), timeout=120, limit=True)
    lines = result.stderr.strip().splitlines()
    ok = result.returncode not in (0, 124) and len(lines) == 1 and "Traceback" not in result.stderr
    report("predict: a 13000x13000 PNG (%.1f MB)" % (png.stat().st_size / 1e6),
           f"exit {result.returncode}: {lines[0][:100] if lines else '(nothing on stderr)'}", ok)  # fmt: skip

    deep = base / "deep-json"
    shutil.copytree(live, deep, ignore=shutil.ignore_patterns("*.sock", ".lock"))
    with open(deep / "metrics.jsonl", "a") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")
    for name, args in (("compare --headless", ("compare", "--headless", str(deep))),
                       ("export --csv -", ("export", str(deep), "--csv", "-")),
                       ("runs --headless", ("runs", "--headless", str(deep)))):  # fmt: skip
        outcome, ok = quiet(cli(*args, timeout=60, limit=True))
        report(f"json: a 100,000-deep line read by {name}", outcome, ok)
    if ctx.sweep_done is not None:
        deep_sweep = base / "deep-sweep"
        shutil.copytree(ctx.sweep_done, deep_sweep, ignore=shutil.ignore_patterns("*.sock"))
        for metrics in deep_sweep.glob("*/metrics.jsonl"):
            with open(metrics, "a") as f:
                f.write("[" * 100_000 + "]" * 100_000 + "\n")
        outcome, ok = quiet(cli("sweep", "--report", str(deep_sweep), timeout=60, limit=True))
        report("json: a 100,000-deep line read by sweep --report", outcome, ok)
    else:
        report("json: a 100,000-deep line read by sweep --report", "no finished sweep to copy (see 4.)", False)

    abc = base / "abc-accuracy"
    shutil.copytree(live, abc, ignore=shutil.ignore_patterns("*.sock", ".lock"))
    with open(abc / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"t": 99.0, "event": "run_finished", "reason": "completed", "message": "", "iteration": 3,
                            "epoch": 1, "final_accuracy": "abc", "best_accuracy": None}) + "\n")  # fmt: skip
    outcome, ok = quiet(cli("compare", "--headless", str(abc), str(live), timeout=60, limit=True))
    report('json: run_finished "final_accuracy": "abc" in compare', outcome, ok)

    # attach: the viewer's client reads the run's socket; a server that sends lines that are not objects.
    sock_path = str(base / "fake.sock")
    finished_line = [line for line in (live / "metrics.jsonl").read_bytes().splitlines() if b'"run_finished"' in line]
    fake_run_server(sock_path, [b'{"hello": {"pid": 1}}', b"5", b'"hello world"', *finished_line[-1:]])
    probe = ("import sys; from mnist_tui.runs.client import RemoteRun; "
             "print(' '.join(type(e).__name__ for e in RemoteRun(sys.argv[1]).events()))")  # fmt: skip
    try:
        result = subprocess.run([sys.executable, "-c", probe, sock_path], capture_output=True, text=True, timeout=30,
                                env=child_env(), preexec_fn=_limit_memory)  # fmt: skip
        ok = result.returncode == 0 and result.stdout.split()[-1:] == ["RunFinished"] and "Traceback" not in result.stderr
        report('attach (its client): lines 5 and "hello world"', f"exit {result.returncode}, events: "
               f"{result.stdout.strip()[:60] or result.stderr.strip()[-80:]}", ok)  # fmt: skip
    except subprocess.TimeoutExpired:
        report('attach (its client): lines 5 and "hello world"', "hung: killed after 30 s", False)

    # The keymap, read by the app's loader from the user's config directory.
    for label, text in (("a 100,000-deep array", "pause = " + "[" * 100_000 + "]" * 100_000 + "\n"),
                        ("a 30,000-deep array (under 64 KiB)", "pause = " + "[" * 30_000 + "]" * 30_000 + "\n"),
                        ("20,000 keys for one command", 'pause = "' + ",".join(["x"] * 20_000) + '"\n')):  # fmt: skip
        config = Path(tempfile.mkdtemp(prefix="keymap-", dir=base))
        (config / "mnist-tui").mkdir()
        (config / "mnist-tui" / "keymap.toml").write_text(text)
        probe = KEYMAP_LOADER + "k = load_keymap(); print(len(k.keys)); [print(p) for p in k.problems]"
        try:
            t0 = time.monotonic()
            result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                                    env=child_env(XDG_CONFIG_HOME=str(config)), preexec_fn=_limit_memory)  # fmt: skip
            took = time.monotonic() - t0
            lines = result.stdout.strip().splitlines()
            ok = result.returncode == 0 and lines[:1] == ["0"] and len(lines) == 2 and "Traceback" not in result.stderr
            report(f"keymap: {label}", f"{took:.1f} s, exit {result.returncode}: "
                   f"{(lines[1] if len(lines) > 1 else result.stderr.strip()[-80:])[-90:]}", ok)  # fmt: skip
        except subprocess.TimeoutExpired:
            report(f"keymap: {label}", "hung: killed after 60 s", False)

    lock_link = base / "sweep-lock-link"
    lock_link.mkdir(mode=0o700)
    (lock_link / ".lock").symlink_to(ctx.victim / ".bashrc")
    outcome, ok = one_line_exit_2(cli("sweep", *ctx.sweep_opts, "--seeds", "0", "--headless",
                                      "--run-dir", str(lock_link), timeout=60))  # fmt: skip
    report("sweep: .lock is a link to ~/.bashrc", outcome, ok and (lock_link / ".lock").is_symlink())
    fifo_plan = base / "sweep-fifo-plan"
    fifo_plan.mkdir(mode=0o700)
    os.mkfifo(fifo_plan / "sweep.json")
    outcome, ok = one_line_exit_2(cli("sweep", *ctx.sweep_opts, "--seeds", "0", "--headless",
                                      "--run-dir", str(fifo_plan), timeout=60))  # fmt: skip
    report("sweep: a FIFO named sweep.json", outcome, ok)
    outcome, ok = one_line_exit_2(cli("sweep", "--report", str(fifo_plan), timeout=60))
    report("sweep --report: a FIFO named sweep.json", outcome, ok)

    found = metrics_have_infinity(live)
    report("socket: metrics.jsonl after set_lr 1e300, scale_lr 1e308", f"{'has ' + ', '.join(found) if found else 'no Infinity or NaN'}",
           not found)  # fmt: skip

    escape = base / "esc\x1b]0;owned\x07\x1b[2J\x1b[31mred"
    shutil.copytree(live, escape, ignore=shutil.ignore_patterns("*.sock", ".lock"))
    for name, args in (("compare --headless", ("compare", "--headless", str(escape), str(live))),
                       ("runs --headless", ("runs", "--headless", str(escape)))):  # fmt: skip
        result = cli(*args, timeout=60)
        raw = [c for c in ("\x1b", "\x07") if c in result.stdout + result.stderr]
        outcome, ok = quiet(result)
        report(f"names: escape sequences in a run dir, {name}", f"{outcome}; raw control characters: {raw or 'none'}",
               ok and not raw)  # fmt: skip

    # Two SIGTERMs while the run starts.
    process = start(*ctx.common, "--max-steps", "50", "--headless", "--run-dir", str(base / "two-sigterms"),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=60)
        lines = err.strip().splitlines()
        report("signals: two SIGTERMs during start-up", f"exit {process.returncode}: {' | '.join(lines)[:100] or '(quiet)'}",
               process.returncode == 130 and "Traceback" not in err and len(lines) <= 1)  # fmt: skip
    except subprocess.TimeoutExpired:
        process.kill()
        report("signals: two SIGTERMs during start-up", "still running 60 s later (killed)", False)

    headed = base / "detach-head"
    command = (f"{shlex.join([sys.executable, '-m', 'mnist_tui', *ctx.common, '--max-steps', '20', '--no-early-stopping', '--run-dir', str(headed), '--detach'])}"
               f" 2>{shlex.quote(str(base / 'detach-head.err'))} | head -1; exit ${{PIPESTATUS[0]}}")  # fmt: skip
    try:
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, env=child_env(),
                                preexec_fn=_limit_memory)  # fmt: skip
        err = (base / "detach-head.err").read_text()
        ended = wait_for(lambda: (headed / "summary.json").exists(), 120)
        MUST_END.append(headed)
        report("cli: --detach | head -1", f"exit {result.returncode}, stderr {err.strip()[:60] or 'empty'}; "
               f"the run {'ended with summary.json' if ended else 'did NOT end'}",
               result.returncode == 0 and "Traceback" not in err and "BrokenPipe" not in err and ended)  # fmt: skip
    except subprocess.TimeoutExpired:
        report("cli: --detach | head -1", "hung: killed after 120 s", False)


# --- 4. Sweeps racing ------------------------------------------------------------------------------------------
def sweep_cases(ctx: "Context") -> None:
    section("4. Sweeps racing")
    base = ctx.base
    # --only writes its run's output to logs/NAME.log (and the run ends with its summary).
    only = base / "sweep-only"
    result = cli("sweep", *ctx.sweep_opts, "--seeds", "0-1", "--only", "1", "--headless", "--run-dir", str(only),
                 timeout=180)  # fmt: skip
    logs = sorted((only / "logs").glob("*.log")) if (only / "logs").is_dir() else []
    runs = [p for p in only.iterdir() if (p / "config.json").exists()] if only.is_dir() else []
    sized = [f"{p.name} {p.stat().st_size} B" for p in logs]
    ended = [r for r in runs if (r / "summary.json").exists()]
    MUST_END.extend(runs)
    ok = result.returncode == 0 and len(runs) == 1 and ended and any(
        p.name == f"{runs[0].name}.log" and p.stat().st_size > 0 for p in logs)
    report("sweep --only 1: its task's log in logs/NAME.log", f"exit {result.returncode}; logs: {sized or 'none'}; "
           f"{len(ended)} of {len(runs)} runs ended" + ("" if ok else f"; {result.stderr.strip()[-80:]}"), bool(ok))  # fmt: skip
    ctx.sweep_done = only if ended else None

    # A second sweep on a directory whose sweep is running: refused, and sweep.json as it was.
    racing = base / "sweep-race"
    first = start("sweep", *ctx.sweep_opts_long, "--seeds", "0-1", "--headless", "--run-dir", str(racing),
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    started = wait_for(lambda: (racing / "sweep.json").exists() and any(racing.glob("*/config.json")), 90)
    if not started:
        first.kill()
        report("sweep: a refused second sweep keeps sweep.json", "the first sweep did not start in 90 s", False)
    else:
        plan = (racing / "sweep.json").read_bytes()
        second = cli("sweep", *ctx.sweep_opts_long, "--seeds", "0-3", "--headless", "--run-dir", str(racing), timeout=60)
        outcome, ok = one_line_exit_2(second)
        same = (racing / "sweep.json").read_bytes() == plan
        report("sweep: a refused second sweep keeps sweep.json", f"{outcome}; sweep.json {'unchanged' if same else 'REPLACED'}",
               ok and same)  # fmt: skip
        first.send_signal(signal.SIGINT)  # Ctrl+C: the sweep stops its run, which saves
        try:
            first.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
        for run in racing.glob("*/config.json"):
            MUST_END.append(run.parent)
            pid = read_json(run.parent / "process.json").get("pid")
            if pid and alive(pid) and not (run.parent / "summary.json").exists():
                print(f"     (the first sweep's run {run.parent.name} outlived its sweep: SIGTERM to {pid})")
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: not alive(pid), 60)

    # A run killed with kill -9 before its first checkpoint: another --only task starts it again.
    killed = base / "sweep-kill9"
    task = start("sweep", *ctx.sweep_opts_kill, "--seeds", "0", "--only", "0", "--headless", "--run-dir",
                 str(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    run_dirs = lambda: [p.parent for p in killed.glob("*/process.json")]  # noqa: E731
    if not wait_for(lambda: bool(run_dirs()) and read_json(run_dirs()[0] / "process.json").get("pid"), 90, 0.02):
        task.kill()
        report("sweep: a run killed -9 before its checkpoint, redone", "the run did not start in 90 s", False)
        return
    run_dir = run_dirs()[0]
    pid = read_json(run_dir / "process.json")["pid"]
    os.kill(pid, signal.SIGKILL)
    had_checkpoint = (run_dir / "checkpoints" / "last.pt").exists()
    try:
        task.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(task.pid, signal.SIGKILL)
    redo = cli("sweep", *ctx.sweep_opts_kill, "--seeds", "0", "--only", "0", "--headless", "--run-dir", str(killed),
               timeout=240)  # fmt: skip
    summary = read_json(run_dir / "summary.json")
    MUST_END.append(run_dir)
    report("sweep: a run killed -9 before its checkpoint, redone", f"killed pid {pid} "
           f"({'a checkpoint existed already' if had_checkpoint else 'no checkpoint yet'}); --only again: exit "
           f"{redo.returncode}, summary {summary.get('reason')!r}" + ("" if redo.returncode == 0 else
                                                                       f"; {redo.stderr.strip()[-90:]}"),
           redo.returncode == 0 and summary.get("reason") == "completed" and not had_checkpoint)  # fmt: skip


# --- 5. Hang-ups -----------------------------------------------------------------------------------------------
def hangup_cases(ctx: "Context") -> None:
    section("5. Hang-ups")
    base = ctx.base
    # The app as the terminal's own process in tmux; the terminal goes away.
    if shutil.which("tmux"):
        run_dir = base / "tmux-run"
        server = f"hostile-{os.getpid()}"
        env = child_env(TERM="xterm-256color")
        command = shlex.join(["env", *[f"{k}={v}" for k, v in ENV.items()], "OMP_NUM_THREADS=1",
                              sys.executable, "-m", "mnist_tui", *ctx.common, "--epochs", "5000", "--no-early-stopping",
                              "--run-dir", str(run_dir)])  # fmt: skip
        subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "victim", "-x", "120", "-y", "40",
                        f"cd {shlex.quote(str(ROOT))} && {command}"], env=env, check=True, timeout=30)  # fmt: skip
        training = wait_for(lambda: b'"evaluation"' in (run_dir / "metrics.jsonl").read_bytes()
                            if (run_dir / "metrics.jsonl").exists() else False, 90)  # fmt: skip
        pid = read_json(run_dir / "process.json").get("pid")
        screen = ""
        if not training:  # what the app's terminal showed, to tell why
            shown = subprocess.run(["tmux", "-L", server, "capture-pane", "-p", "-t", "victim"], capture_output=True,
                                   text=True, timeout=30)  # fmt: skip
            screen = " | ".join(line.strip() for line in shown.stdout.splitlines() if line.strip())[-160:]
        subprocess.run(["tmux", "-L", server, "kill-session", "-t", "victim"], timeout=30)
        t0 = time.monotonic()
        gone = wait_for(lambda: pid is not None and not alive(pid), 60)
        took = time.monotonic() - t0
        summary = read_json(run_dir / "summary.json")
        checkpoint = (run_dir / "checkpoints" / "last.pt").exists()
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True, timeout=30)
        if pid and not gone:
            os.kill(pid, signal.SIGKILL)
        MUST_END.append(run_dir)
        report("hang-up: tmux kill-session of the app's terminal", f"{'training' if training else 'NOT training'}; "
               f"process {'gone' if gone else 'STILL RUNNING' if pid else '(no process.json)'} {took:.1f} s later; summary "
               f"{summary.get('reason')!r}, last.pt {'there' if checkpoint else 'MISSING'}",
               training and gone and summary.get("reason") == "interrupted" and checkpoint)  # fmt: skip
        if screen:
            print(f"     (the app's terminal showed: {screen})")
    else:
        skip("hang-up: tmux kill-session of the app's terminal", "tmux is not installed")

    # Sixteen viewers that connect and never read; then the run is told to stop.
    slow = base / "slow-viewers"
    started = cli(*ctx.common, "--epochs", "5000", "--no-early-stopping", "--run-dir", str(slow), "--detach")
    MUST_END.append(slow)
    if started.returncode != 0:
        report("hang-up: 16 viewers that never read", f"the run did not start: {started.stderr.strip()[-90:]}", False)
    else:
        process = read_json(slow / "process.json")
        viewers = []
        for _ in range(16):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(process["socket"])
            s.sendall(b'{"op": "subscribe"}\n')
            viewers.append(s)
        time.sleep(8)  # the run streams its events into buffers nobody empties
        os.kill(process["pid"], signal.SIGTERM)
        t0 = time.monotonic()
        gone = wait_for(lambda: not alive(process["pid"]), 60)
        took = time.monotonic() - t0
        for s in viewers:
            s.close()
        summary = read_json(slow / "summary.json")
        report("hang-up: 16 viewers that never read, then SIGTERM", f"process {'gone' if gone else 'STILL RUNNING'} "
               f"{took:.1f} s after the SIGTERM; summary {summary.get('reason')!r}",
               gone and took < 10 and bool(summary))  # fmt: skip

    # kill -9 while a checkpoint is being written; the next start must not leave the temporary file. Once
    # with a last.pt already there (the usual case), once during the run's first checkpoint write.
    kill_mid_checkpoint(ctx, "kill-mid-checkpoint", first=False)
    kill_mid_checkpoint(ctx, "kill-mid-first-checkpoint", first=True)


def kill_mid_checkpoint(ctx: "Context", name: str, *, first: bool) -> None:
    case = f"hang-up: kill -9 during the {'first ' if first else ''}checkpoint write, then resume"
    run_dir = ctx.base / name
    checkpoints = run_dir / "checkpoints"
    started = cli(*ctx.common, "--epochs", "5000", "--no-early-stopping", "--run-dir", str(run_dir), "--detach")
    MUST_END.append(run_dir)
    if started.returncode != 0:
        report(case, f"the run did not start: {started.stderr.strip()[-90:]}", False)
        return
    process = read_json(run_dir / "process.json")
    if not first and not wait_for(lambda: (checkpoints / "last.pt").exists(), 60, 0.05):
        report(case, "no last.pt within 60 s", False)
        return
    stop = threading.Event()

    def ask_saves() -> None:
        while not stop.is_set():
            try:
                send(process["socket"], b'{"op": "save_now"}\n', read=False)
            except OSError:
                return
            time.sleep(0.02)

    saver = threading.Thread(target=ask_saves, daemon=True)
    saver.start()
    caught = None
    deadline = time.monotonic() + 30
    while caught is None and time.monotonic() < deadline:
        for entry in os.listdir(checkpoints):
            if TEMPORARY.fullmatch(entry):
                os.kill(process["pid"], signal.SIGKILL)
                caught = entry
                break
    stop.set()
    if caught is None:
        os.kill(process["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(process["pid"]), 10)
    left = [n for n in os.listdir(checkpoints) if TEMPORARY.fullmatch(n)]
    had_last = (checkpoints / "last.pt").exists()
    if first and had_last:
        skip(case, f"not reproduced: the kill {'came during ' + caught if caught else 'missed every write'} after "
             "last.pt was whole")  # fmt: skip
        MUST_END.remove(run_dir)
        return
    how = f"killed while {caught} was written" if caught and left else "kill -9 missed every write"
    if not left:  # the kill was not timed inside a write: leave what such a kill leaves, and say so
        (checkpoints / ".last.pt.abcd1234.tmp").write_bytes(b"\x80" * 1000)
        how += "; a stale .last.pt.abcd1234.tmp planted instead"
    how += f" ({'last.pt' if had_last else 'no last.pt'} there)"
    iteration = max((json.loads(line).get("iteration", 0) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                     if line.startswith("{") and '"iteration"' in line), default=0)  # fmt: skip
    resumed = cli("--resume", str(run_dir), "--headless", "--max-steps", str(iteration + 8), timeout=180)
    if first and not had_last:
        # Nothing to resume: --resume says so in one line, and the same command as the first starts it over,
        # clearing the half-written checkpoint.
        refused, one_line = resumed.returncode == 2, len(resumed.stderr.strip().splitlines()) == 1
        again = cli(*ctx.common, "--max-steps", "8", "--headless", "--run-dir", str(run_dir), timeout=180)
        after = [n for n in os.listdir(checkpoints) if TEMPORARY.fullmatch(n) or n.endswith(".tmp")]
        lines = resumed.stderr.strip().splitlines()
        report(case, f"{how}; resume exit {resumed.returncode} ({lines[-1][-70:] if lines else ''}); the same "
               f"command again: exit {again.returncode}; temporary files after: {after or 'none'}",
               refused and one_line and "start it over" in resumed.stderr and again.returncode == 0
               and not after and (run_dir / "summary.json").exists())  # fmt: skip
        return
    after = [n for n in os.listdir(checkpoints) if TEMPORARY.fullmatch(n) or n.endswith(".tmp")]
    said = "" if resumed.returncode == 0 else f" ({resumed.stderr.strip()[-110:]})"
    report(case, f"{how}; resume exit {resumed.returncode}{said}; temporary files after: {after or 'none'}",
           resumed.returncode == 0 and not after and (run_dir / "summary.json").exists())  # fmt: skip


# --- the cases that were here first ------------------------------------------------------------------------------
def first_cases(ctx: "Context") -> bool:
    """Bad numbers, a live run's socket, run directories others may write, damaged run files, a gzip bomb."""
    section("0. Command line, a live run's socket, damaged files")
    base, common = ctx.base, ctx.common
    for bad in (["--threads", "1000000"], ["--seed", str(2**70)], ["--lr", "inf"], ["--weight-decay", "nan"],
                ["--min-delta", "inf"], ["--epochs", "-3"]):  # fmt: skip
        run_dir = base / "bad-number"
        outcome, ok = one_line_exit_2(cli(*common, *bad, "--headless", "--run-dir", str(run_dir)))
        report(f"cli: {' '.join(bad)}", outcome, ok and not run_dir.exists())
    outcome, ok = one_line_exit_2(cli("inspect", str(base), "--top", "-5"))
    report("cli: inspect --top -5", outcome, ok)
    outcome, ok = one_line_exit_2(cli("--resume", str(base), "--detach"))
    report("cli: --resume on a directory that holds no run, --detach", outcome, ok)

    # A real run in the background, long enough to be attacked while it trains (no early stop: it would end
    # on the synthetic set within seconds).
    live = ctx.live
    started = cli(*common, "--epochs", "5000", "--no-early-stopping", "--run-dir", str(live), "--detach")
    if started.returncode != 0:
        print(started.stderr)
        return False
    MUST_END.append(live)
    try:
        second = cli("--resume", str(live), "--headless")
        outcome, ok = one_line_exit_2(second)
        report("run dir: a second trainer on the live run", outcome, ok and "is training this run" in second.stderr)
        viewer_cap(json.loads((live / "process.json").read_text())["socket"])
        socket_cases(live)
    finally:
        if not wait_for(lambda: (live / "summary.json").exists(), 120, 0.2):
            pid = read_json(live / "process.json").get("pid")
            if pid and alive(pid):
                os.kill(pid, signal.SIGTERM)
            wait_for(lambda: (live / "summary.json").exists(), 60, 0.2)
    summary = read_json(live / "summary.json")
    report("run: ended after the socket cases", f"reason {summary.get('reason')!r}", summary.get("reason") == "stopped")

    shared = base / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    outcome, ok = one_line_exit_2(cli(*common, "--max-steps", "2", "--run-dir", str(shared), "--headless"))
    report("run dir: writable by others (0777)", outcome, ok and not (shared / "config.json").exists())
    planted = base / "planted"
    planted.mkdir(mode=0o700)
    (planted / "metrics.jsonl").symlink_to(ctx.victim / ".bashrc")
    outcome, ok = one_line_exit_2(cli(*common, "--max-steps", "2", "--run-dir", str(planted), "--headless"))
    report("run dir: metrics.jsonl planted as a symlink to a file", outcome,
           ok and (ctx.victim / ".bashrc").read_text() == "precious\n")  # fmt: skip

    for name, content in (("config.json", "[1, 2]"), ("summary.json", '"x"'), ("process.json", '{"pid": "x"}'),
                          ("metrics.jsonl", None)):  # fmt: skip
        damaged = base / f"damaged-{name}"
        shutil.copytree(live, damaged, ignore=shutil.ignore_patterns("*.sock", ".lock"))
        if content is None:
            with open(damaged / name, "a") as f:
                f.write('{"event": "evaluation", "iteration": "x", "best_accuracy": []}\n')
        else:
            (damaged / name).write_text(content)
        listing = cli("runs", "--headless", str(live), str(damaged))
        ok = listing.returncode == 0 and "2 runs" in listing.stdout and "Traceback" not in listing.stderr
        report(f"file: damaged {name}: mnist-tui runs", f"exit {listing.returncode}, both listed" if ok else
               listing.stderr[-100:], ok)  # fmt: skip
        if name == "config.json":
            outcome, ok = one_line_exit_2(cli("--resume", str(damaged), "--headless"))
            report("file: damaged config.json: --resume", outcome, ok)

    bomb_dir = base / "bomb"
    bomb_dir.mkdir()
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(Path(ctx.dataset) / name, bomb_dir / name) if (Path(ctx.dataset) / name).exists() else None
    with gzip.open(bomb_dir / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 10, 28, 28))
        zeros = bytes(1 << 20)
        for _ in range(512):
            f.write(zeros)
    outcome, ok = one_line_exit_2(cli("--dataset", str(bomb_dir), "--device", "cpu", "--headless",
                                      "--run-dir", str(base / "bomb-run"), limit=True))  # fmt: skip
    report("data: a 0.5 MB gzip bomb of 512 MiB as train images", outcome, ok)
    return True


class Context:
    """What the cases share: where they write, the data set, the victim's files, the second user."""

    def __init__(self, base: Path, shtmp: Path, dataset: str, other: SecondUser) -> None:
        self.base, self.shtmp, self.dataset, self.other = base, shtmp, dataset, other
        self.common = ["--dataset", dataset, "--device", "cpu", "--batch-size", "50", "--eval-every", "4",
                       "--threads", "1"]  # fmt: skip
        self.sweep_opts = [*self.common, "--max-steps", "6", "--no-early-stopping"]
        self.sweep_opts_long = [*self.common, "--max-steps", "3000", "--no-early-stopping"]
        self.sweep_opts_kill = [*self.common, "--max-steps", "60", "--no-early-stopping"]
        self.live = base / "live"
        self.sweep_done: Path | None = None
        # The victim's own precious files: a home with a ~/.ssh that planted links lead to.
        self.victim = base / "victim-home"
        (self.victim / ".ssh").mkdir(parents=True, mode=0o700)
        (self.victim / ".ssh").chmod(0o700)
        (self.victim / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA precious\n")
        (self.victim / ".bashrc").write_text("precious\n")


def nothing_lost(ctx: Context, victim_before: dict) -> bool:
    victim_after = {k: v for k, v in snapshot(ctx.victim).items() if k != "sweeps"}
    victim_before = {k: v for k, v in victim_before.items() if k != "sweeps"}
    changed = sorted(k for k in set(victim_before) | set(victim_after) if victim_before.get(k) != victim_after.get(k))
    broken = [d for d in MUST_END if not ((d / "summary.json").is_file() and (d / "config.json").is_file()
                                          and (d / "metrics.jsonl").is_file())]  # fmt: skip
    print(f"victim's files: {'unchanged' if not changed else 'CHANGED: ' + ', '.join(changed)}")
    print(f"run directories: {len(MUST_END) - len(broken)} of {len(MUST_END)} intact, each ending with summary.json"
          + ("" if not broken else "; missing in: " + ", ".join(d.name for d in broken)))
    return not changed and not broken


SECTIONS = {"share": cpu_share_cases, "paths": path_cases, "sweeps": sweep_cases, "bounds": bound_cases,
            "hangups": hangup_cases}  # in this order: bounds reads the sweep that sweeps finished


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="a data set name or directory (default: a synthetic set made here)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="which groups of cases, after the first ones "
                   f"(default: all of {','.join(SECTIONS)})")  # fmt: skip
    args = p.parse_args()
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"--sections: unknown {', '.join(sorted(unknown))}")
    base = Path(tempfile.mkdtemp(prefix="hostile-", dir="/tmp"))
    shtmp = Path(tempfile.mkdtemp(prefix="hostile-shared-", dir="/tmp"))  # a shared sticky directory, as /tmp is
    shtmp.chmod(0o1777)
    dataset = args.dataset
    if dataset is None:
        from helpers.synthetic import write_dataset

        dataset = str(write_dataset(base / "data", n_train=600, n_test=200))
    # The children keep to this script's directories: runs, config (keymap) and CPU-share claims.
    for name in ("data-dir", "config", "claims"):
        (base / name).mkdir(mode=0o700)
    ENV.update(MNIST_TUI_DATA_DIR=str(base / "data-dir"), XDG_CONFIG_HOME=str(base / "config"),
               MNIST_TUI_CPU_SHARE_DIR=str(base / "claims"))  # fmt: skip
    other = SecondUser()
    print(f"second user: {other.name or other.why}; children reading bounded inputs limited to "
          f"{MEMORY_LIMIT >> 30} GiB of address space")
    ctx = Context(base, shtmp, dataset, other)
    victim_before = snapshot(ctx.victim)
    try:
        if not first_cases(ctx):
            return 1
        for name, cases in SECTIONS.items():
            if name in args.sections.split(","):
                cases(ctx)
        section("Nothing lost?")
        intact = nothing_lost(ctx, victim_before)
    finally:
        for run_dir in [*MUST_END, ctx.live]:  # no run of ours trains on after the script
            pid = read_json(run_dir / "process.json").get("pid")
            if isinstance(pid, int) and alive(pid) and not (run_dir / "summary.json").exists():
                print(f"(stopping {run_dir.name}: process {pid} still training)")
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: not alive(pid), 30)
        for process in STARTED:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    failed = [case for case, _, ok in RESULTS if not ok]
    print(f"\n{len(RESULTS) + len(SKIPPED)} bad inputs: {len(RESULTS)} tried, {len(SKIPPED)} skipped; "
          f"{len(RESULTS) - len(failed)} of {len(RESULTS)} handled as expected; "
          f"{'nothing lost' if intact else 'SOMETHING WAS LOST'}")  # fmt: skip
    for case in failed:
        print(f"  not handled: {case}")
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(shtmp, ignore_errors=True)
    return 1 if failed or not intact else 0


if __name__ == "__main__":
    sys.exit(main())
