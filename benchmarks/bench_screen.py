"""What a user over a slow link feels: how fast each key shows on screen, and how many bytes the app sends.

Drives the real app (``python -m mnist_tui`` of the checkout in the current directory, so the same script
measures an older commit too) in a pseudo-terminal, training the tutorial recipe on the CPU, and reads its
output as a terminal would.

    python benchmarks/bench_screen.py                      # both parts, 10 tries, 60 s per size
    python benchmarks/bench_screen.py --latency --tries 3 --stop-runs 1
    python benchmarks/bench_screen.py --bandwidth --seconds 10 --sizes 120x40 --by-row

Key latency: once the first evaluation is in (the run at full load), each key is written to the terminal and
timed to the first appearance of its acknowledgement in the byte stream (``ack``), and where a key also has
a later effect (PAUSED once the step has ended, the checkpoint written) to that too (``done``). p pauses and
p resumes, c saves, e, l, ? and m open their screens (escape closes them). s ends the run, so it is timed
once in each of ``--stop-runs`` fresh runs. Median and worst per key. A key that opens a screen is taken when
the status line says ``opening …`` (or, where it does not, when the screen shows); ``done`` is the screen.

Bandwidth: the bytes the app writes over ``--seconds`` of steady state (from 2 s after the first
evaluation) at each size, in KiB/s; ``--by-row`` says which screen rows they went to (the cursor moves
in the stream tell where each write lands).

The terminal is xterm-256color without COLORTERM (as over most SSH links), unless ``--truecolor``. The
environment is otherwise passed on: leave OMP_NUM_THREADS unset to train at full load. Timings on a
shared or busy machine are not figures.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shlex
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CURSOR_MOVE = re.compile(rb"\x1b\[(\d+);(\d+)H")


class Terminal:
    """The app in a pseudo-terminal of ``cols`` x ``rows``; a thread reads all it writes, with the time."""

    def __init__(self, app_args: list[str], cols: int, rows: int, truecolor: bool) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        env.pop("COLORTERM", None)
        if truecolor:
            env["COLORTERM"] = "truecolor"
        cwd = os.getcwd()  # the checkout measured: its package, not an installed one
        env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH", "")) if p)
        env.pop("TEXTUAL", None)  # no devtools
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mnist_tui", *app_args],
            stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # noqa: PLW1509 - the reader thread starts later
        )  # fmt: skip
        os.close(slave)
        self.fd = master
        self.data = bytearray()  # everything read so far
        self.chunks: list[tuple[float, int]] = []  # (when read, offset of its end in data)
        self.changed = threading.Condition()
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            now = time.perf_counter()
            with self.changed:
                if not chunk:
                    self.closed = True
                    self.changed.notify_all()
                    return
                self.data += chunk
                self.chunks.append((now, len(self.data)))
                self.changed.notify_all()

    @property
    def offset(self) -> int:
        with self.changed:
            return len(self.data)

    def send(self, keys: bytes) -> tuple[float, int]:
        """Write ``keys``; the time it was written and the stream's offset then."""
        offset = self.offset
        os.write(self.fd, keys)
        return time.perf_counter(), offset

    def wait_for(self, pattern: re.Pattern[bytes], since: int, timeout: float) -> float | None:
        """When the first chunk that completes a match of ``pattern`` after offset ``since`` was read."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while True:
                match = pattern.search(self.data, since)
                if match:
                    return next(t for t, end in self.chunks if end >= match.end())
                left = deadline - time.perf_counter()
                if left <= 0 or self.closed:
                    return None
                self.changed.wait(left)

    def bytes_between(self, start: float, end: float) -> bytes:
        """What was read from ``start`` to ``end`` (perf_counter times)."""
        with self.changed:
            first = last = 0
            for t, off in self.chunks:
                if t < start:
                    first = off
                if t <= end:
                    last = off
            return bytes(self.data[first:last])

    def close(self) -> None:
        """SIGTERM (the app stops the run, saves and quits), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.fd)


def wait_for_event(run_dir: Path, kind: str, terminal: Terminal, timeout: float) -> bool:
    """Until the run's metrics.jsonl holds an event of ``kind`` (the app is then at full load)."""
    deadline = time.monotonic() + timeout
    metrics = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline and terminal.process.poll() is None:
        if metrics.exists():
            for line in metrics.read_text(errors="replace").splitlines():
                try:
                    if json.loads(line).get("event") == kind:
                        return True
                except ValueError:
                    continue
        time.sleep(0.2)
    return False


# Key latency -----------------------------------------------------------------------------------------------
def text(words: str, *, case: bool = False) -> re.Pattern[bytes]:
    return re.compile(re.escape(words.encode()), 0 if case else re.IGNORECASE)


def opened(title: str) -> re.Pattern[bytes]:
    """A screen's key is taken when the status line says it is opening it, or the screen shows (older versions)."""
    return re.compile(rb"opening |" + re.escape(title.encode()))


@dataclass(frozen=True)
class Key:
    name: str
    keys: bytes
    ack: re.Pattern[bytes]  # what shows the key was taken
    done: re.Pattern[bytes] | None = None  # what shows it took effect, where that comes later
    close: bytes = b""  # what to send afterwards to get back to the training screen


ESCAPE = b"\x1b"
KEYS = (  # an ack is the pending state the key shows at once, or the run's answer if that comes first
    Key("p (pause)", b"p", re.compile(rb"(?i:pausing)|PAUSED"), text("PAUSED", case=True)),
    Key("p (resume)", b"p", re.compile(rb"(?i:resuming)|RUNNING"), text("RUNNING", case=True)),
    Key("c (save)", b"c", text("Saving a checkpoint"), text("Checkpoint saved")),
    Key("e (form)", b"e", opened("Early stopping · applies"), text("Early stopping · applies"), ESCAPE),
    Key("l (form)", b"l", opened("Learning rate · applies"), text("Learning rate · applies"), ESCAPE),
    Key("? (help)", b"?", opened("mnist-tui · help"), text("mnist-tui · help"), ESCAPE),
    Key("m (errors)", b"m", opened("Misclassified"), text("Misclassified"), ESCAPE),
)
STOP = Key("s (stop)", b"s", text("stopping"), re.compile(rb"FINISHED|EARLY-STOPPED|run stopped"))


@dataclass
class Times:
    ack: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    missed: int = 0


def press(terminal: Terminal, key: Key, times: Times, timeout: float = 20.0) -> float | None:
    """Press ``key``, record its times; the seconds to its acknowledgement (None: missed)."""
    sent, offset = terminal.send(key.keys)
    ack = terminal.wait_for(key.ack, offset, timeout)
    if ack is None:
        times.missed += 1
    else:
        times.ack.append(ack - sent)
    if key.done is not None:
        done = terminal.wait_for(key.done, offset, timeout)
        if done is not None:
            times.done.append(done - sent)
    if key.close:
        time.sleep(0.3)
        terminal.send(key.close)
    time.sleep(0.4 + 0.1 * (len(times.ack) % 4))  # let the screen settle; vary the phase against the steps
    return None if ack is None else ack - sent


def start(args: argparse.Namespace, run_dir: Path, cols: int, rows: int) -> Terminal:
    app_args = ["--device", args.device, "--run-dir", str(run_dir), *shlex.split(args.app_args)]
    return Terminal(app_args, cols, rows, args.truecolor)


def latency(args: argparse.Namespace, tmp: Path) -> dict[str, Times]:
    cols, rows = args.latency_size
    results = {key.name: Times() for key in (*KEYS, STOP)}
    terminal = start(args, tmp / "latency", cols, rows)
    try:
        if not wait_for_event(tmp / "latency", "evaluation", terminal, args.startup_timeout):
            sys.exit("latency: the run reached no evaluation (see the run directory's metrics.jsonl)")
        time.sleep(1.0)
        for attempt in range(args.tries):
            acks = [press(terminal, key, results[key.name]) for key in KEYS]
            each = ", ".join(f"{key.keys.decode()} {'missed' if a is None else f'{1000 * a:.0f}'}" for key, a in zip(KEYS, acks))
            print(f"  latency: try {attempt + 1}/{args.tries}, ms to each acknowledgement: {each}", file=sys.stderr)
    finally:
        terminal.close()
    for n in range(args.stop_runs):  # s ends the run: once per run
        run_dir = tmp / f"stop-{n}"
        terminal = start(args, run_dir, cols, rows)
        try:
            if wait_for_event(run_dir, "step", terminal, args.startup_timeout):
                time.sleep(1.0)
                press(terminal, STOP, results[STOP.name], timeout=60.0)
        finally:
            terminal.close()
        print(f"  latency: stop run {n + 1}/{args.stop_runs} done", file=sys.stderr)
    return results


def ms(values: list[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8}"
    return f"{1000 * statistics.median(values):>8.0f} {1000 * max(values):>8.0f}"


def print_latency(results: dict[str, Times], size: tuple[int, int]) -> None:
    print(f"\nkey latency at {size[0]}x{size[1]} (ms from the key to its text in the output)")
    print(f"{'key':<12} {'n':>3} {'ack med':>8} {'ack max':>8} {'done med':>8} {'done max':>8} {'missed':>6}")
    for name, t in results.items():
        print(f"{name:<12} {len(t.ack):>3} {ms(t.ack)} {ms(t.done)} {t.missed:>6}")


# Bandwidth -------------------------------------------------------------------------------------------------
def bandwidth(args: argparse.Namespace, tmp: Path, size: tuple[int, int]) -> tuple[float, bytes]:
    cols, rows = size
    run_dir = tmp / f"bandwidth-{cols}x{rows}"
    terminal = start(args, run_dir, cols, rows)
    try:
        if not wait_for_event(run_dir, "evaluation", terminal, args.startup_timeout):
            sys.exit(f"bandwidth {cols}x{rows}: the run reached no evaluation")
        time.sleep(2.0)
        begin = time.perf_counter()
        time.sleep(args.seconds)
        end = time.perf_counter()
        stream = terminal.bytes_between(begin, end)
    finally:
        terminal.close()
    return len(stream) / 1024 / (end - begin), stream


def rows_of(stream: bytes) -> Counter[int]:
    """Bytes written to each screen row (1-based), from the cursor move before each write."""
    counts: Counter[int] = Counter()
    row, last = 0, 0
    for match in CURSOR_MOVE.finditer(stream):
        counts[row] += match.start() - last
        row, last = int(match.group(1)), match.start()
    counts[row] += len(stream) - last
    return counts


def print_rows(stream: bytes, seconds: float) -> None:
    counts = rows_of(stream)
    print(f"{'row':>5} {'KiB/s':>7}  (row 0: before the first cursor move)")
    for row in sorted(counts):
        if counts[row]:
            print(f"{row:>5} {counts[row] / 1024 / seconds:>7.2f}")


def size_arg(value: str) -> tuple[int, int]:
    cols, _, rows = value.lower().partition("x")
    return int(cols), int(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", action="store_true", help="only the key latency")
    p.add_argument("--bandwidth", action="store_true", help="only the bandwidth")
    p.add_argument("--tries", type=int, default=10, help="presses of each key (default: 10)")
    p.add_argument("--stop-runs", type=int, default=10, help="fresh runs to time s in (default: 10)")
    p.add_argument("--latency-size", type=size_arg, default=(120, 40), help="default: 120x40")
    p.add_argument("--seconds", type=float, default=60.0, help="steady state measured per size (default: 60)")
    p.add_argument("--sizes", default="80x24,120x40,200x60", help="default: 80x24,120x40,200x60")
    p.add_argument("--by-row", action="store_true", help="bandwidth: the bytes per screen row too")
    p.add_argument("--dump", metavar="DIR", help="bandwidth: write each size's measured bytes to DIR")
    p.add_argument("--device", default="cpu")
    p.add_argument("--app-args", default="", help="more options for mnist-tui, e.g. '--refresh 2'")
    p.add_argument("--truecolor", action="store_true", help="COLORTERM=truecolor (24-bit colour codes)")
    p.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for the first evaluation")
    args = p.parse_args()
    both = not (args.latency or args.bandwidth)
    tmp = Path(tempfile.mkdtemp(prefix="bench-screen-"))
    print(f"app: {sys.executable} -m mnist_tui in {os.getcwd()}; runs in {tmp}")
    if args.latency or both:
        print_latency(latency(args, tmp), args.latency_size)
    if args.bandwidth or both:
        print(f"\nbandwidth over {args.seconds:g} s of steady state")
        print(f"{'size':<9} {'KiB/s':>7}")
        for size in [size_arg(s) for s in args.sizes.split(",") if s]:
            rate, stream = bandwidth(args, tmp, size)
            print(f"{size[0]}x{size[1]:<6} {rate:>7.2f}", flush=True)
            if args.by_row:
                print_rows(stream, args.seconds)
            if args.dump:
                (Path(args.dump) / f"screen-{size[0]}x{size[1]}.bin").write_bytes(stream)


if __name__ == "__main__":
    main()
