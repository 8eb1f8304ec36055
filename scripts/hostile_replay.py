"""Replay hostile and clumsy input against a real run and print how each case was handled.

    python scripts/hostile_replay.py [--dataset DIR|mnist]

Starts a real run in the background (``mnist-tui --detach``, a small synthetic set in the real MNIST file
format unless --dataset is given), then throws at it: messages on its socket (a stop that claims the run
completed, an endless line, too many viewers, out-of-range and mistyped settings, garbage), attacks on run
directories (a second trainer on the live run, a directory others may write, a planted symlink), bad
numbers on the command line, and damaged files (config, summary, process and metrics of a run; a gzip bomb
for a data set). Prints one line per case: what was done, what happened, and whether that is the expected
handling. Exit code 1 if any case was not handled as expected.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

RESULTS: list[tuple[str, str, bool]] = []


def report(case: str, outcome: str, ok: bool) -> None:
    RESULTS.append((case, outcome, ok))
    print(f"{'ok  ' if ok else 'FAIL'} {case:<58} {outcome}", flush=True)


def cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "mnist_tui", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)  # fmt: skip


def one_line_exit_2(result: subprocess.CompletedProcess) -> tuple[str, bool]:
    lines = result.stderr.strip().splitlines()
    first = lines[0] if lines else "(nothing on stderr)"
    ok = result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    return f"exit {result.returncode}: {first[:110]}", ok


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
    return json.loads(send(path, b'{"op": "status"}\n').splitlines()[0])["hello"]


def socket_cases(run_dir: Path) -> None:
    process = json.loads((run_dir / "process.json").read_text())
    path = process["socket"]
    before = status(path)
    send(path, json.dumps({"op": "stop", "reason": "completed"}).encode() + b"\n", read=False)
    # The stop is honoured as the user's stop; the run ends "stopped" (checked at the end), it never spins.
    report("socket: stop claiming reason 'completed'", "asked to stop (reason forced to 'stopped')", True)
    answer = send(path, b"x" * (80 * 1024))
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
        alive = b"hello" in send(path, line)
        report(f"socket: {json.dumps(message)[:50]}", "ignored; the server still answers" if alive else "no answer",
               alive)  # fmt: skip
    del before


def viewer_cap(path: str) -> None:
    socks = []
    try:
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            s.sendall(b'{"op": "subscribe"}\n')
            socks.append(s)
            time.sleep(0.01)
        served = 0
        for s in socks:
            try:
                served += bool(s.recv(1))
            except OSError:
                pass
        report("socket: 40 viewers at once", f"{served} served, {40 - served} hung up on", served <= 16)
    finally:
        for s in socks:
            s.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="a data set name or directory (default: a synthetic set made here)")
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hostile-", dir="/tmp"))
    dataset = args.dataset
    if dataset is None:
        from helpers.synthetic import write_dataset

        dataset = str(write_dataset(base / "data", n_train=600, n_test=200))
    common = ["--dataset", dataset, "--device", "cpu", "--batch-size", "50", "--eval-every", "4", "--threads", "1"]

    # Bad numbers: one line, exit code 2, and no run directory left behind.
    for bad in (["--threads", "1000000"], ["--seed", str(2**70)], ["--lr", "inf"], ["--weight-decay", "nan"],
                ["--min-delta", "inf"], ["--epochs", "-3"]):  # fmt: skip
        run_dir = base / "bad-number"
        outcome, ok = one_line_exit_2(cli(*common, *bad, "--headless", "--run-dir", str(run_dir)))
        report(f"cli: {' '.join(bad)}", outcome, ok and not run_dir.exists())
    outcome, ok = one_line_exit_2(cli("inspect", str(base), "--top", "-5"))
    report("cli: inspect --top -5", outcome, ok)
    outcome, ok = one_line_exit_2(cli("--resume", str(base), "--detach"))
    report("cli: --resume on a directory that holds no run, --detach", outcome, ok)

    # A real run in the background, long enough to be attacked while it trains.
    live = base / "live"
    started = cli(*common, "--epochs", "200", "--run-dir", str(live), "--detach")
    if started.returncode != 0:
        print(started.stderr)
        return 1
    try:
        second = cli("--resume", str(live), "--headless")
        outcome, ok = one_line_exit_2(second)
        report("run dir: a second trainer on the live run", outcome, ok and "is training this run" in second.stderr)
        viewer_cap(json.loads((live / "process.json").read_text())["socket"])
        socket_cases(live)
    finally:
        deadline = time.monotonic() + 120
        while not (live / "summary.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    summary = json.loads((live / "summary.json").read_text()) if (live / "summary.json").exists() else {}
    report("run: ended after the socket cases", f"reason {summary.get('reason')!r}", summary.get("reason") == "stopped")

    # Run directories that are not the user's to trust.
    shared = base / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    outcome, ok = one_line_exit_2(cli(*common, "--max-steps", "2", "--run-dir", str(shared), "--headless"))
    report("run dir: writable by others (0777)", outcome, ok and not (shared / "config.json").exists())
    victim = base / "bashrc"
    victim.write_text("precious\n")
    planted = base / "planted"
    planted.mkdir(mode=0o700)
    (planted / "metrics.jsonl").symlink_to(victim)
    outcome, ok = one_line_exit_2(cli(*common, "--max-steps", "2", "--run-dir", str(planted), "--headless"))
    report("run dir: metrics.jsonl planted as a symlink to a file", outcome,
           ok and victim.read_text() == "precious\n")  # fmt: skip

    # Damaged files of a finished run: named in one line; `runs` lists the others.
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

    # A gzip bomb where a data set's images should be.
    bomb_dir = base / "bomb"
    bomb_dir.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(Path(dataset) / name, bomb_dir / name) if (Path(dataset) / name).exists() else None
    with gzip.open(bomb_dir / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 10, 28, 28))
        zeros = bytes(1 << 20)
        for _ in range(512):
            f.write(zeros)
    (bomb_dir / "train-images-idx3-ubyte").unlink(missing_ok=True)
    outcome, ok = one_line_exit_2(cli("--dataset", str(bomb_dir), "--device", "cpu", "--headless",
                                      "--run-dir", str(base / "bomb-run")))  # fmt: skip
    report("data: a 0.5 MB gzip bomb of 512 MiB as train images", outcome, ok)

    failed = [case for case, _, ok in RESULTS if not ok]
    print(f"\n{len(RESULTS) - len(failed)} of {len(RESULTS)} cases handled as expected")
    shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
