"""Training throughput with the app on screen against headless, on the same machine, in one run.

Runs `mnist-tui` twice for the same number of steps: headless (stdout a pipe), then the live app in a
real pseudo-terminal of --cols x --rows whose output is read and thrown away as a terminal would show it.
Throughput is taken from each run's metrics.jsonl (training images/s, evaluations excluded). Also
prints how long the app took to draw its first frame.

    python benchmarks/bench_app.py [--steps 600] [--preset tutorial] [--cols 120 --rows 40]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path


def throughput(run_dir: Path) -> float:
    images = seconds = 0.0
    batch = json.loads((run_dir / "config.json").read_text())["batch_size"]
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "step" and event["images_per_second"] > 0:
            n = len(event["losses"]) * batch
            images += n
            seconds += n / event["images_per_second"]
    return images / seconds


def headless(args: list[str], run_dir: Path) -> float:
    subprocess.run([sys.executable, "-m", "mnist_tui", *args, "--run-dir", str(run_dir)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return throughput(run_dir)


def in_app(args: list[str], run_dir: Path, cols: int, rows: int) -> tuple[float, float | None]:
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real app on a terminal
        os.execvp(sys.executable, [sys.executable, "-m", "mnist_tui", *args, "--run-dir", str(run_dir)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    first_frame = None
    seen = b""
    quit_sent = False
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if first_frame is None:
                seen = (seen + chunk)[-4096:]
                if b"epoch" in seen or b"STARTING" in seen or b"LOADING" in seen:
                    first_frame = time.perf_counter() - started
        if not quit_sent and (run_dir / "summary.json").exists():
            os.write(fd, b"q")
            quit_sent = True
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    return throughput(run_dir), first_frame


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--preset", default="tutorial")
    p.add_argument("--device", default="auto")
    p.add_argument("--cols", type=int, default=120)
    p.add_argument("--rows", type=int, default=40)
    args = p.parse_args()
    common = ["--preset", args.preset, "--device", args.device, "--max-steps", str(args.steps)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    h = headless(common, tmp / "headless")
    a, first = in_app(common, tmp / "app", args.cols, args.rows)
    print(f"{'mode':<22} {'images/s':>9}")
    print(f"{'headless':<22} {h:>9,.0f}")
    print(f"{f'app at {args.cols}x{args.rows}':<22} {a:>9,.0f}   ({a / h:.0%} of headless)")
    print(f"first frame of the app: {first:.2f} s after launch" if first else "first frame: not seen")


if __name__ == "__main__":
    main()
