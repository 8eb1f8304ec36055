"""Two runs sharing the CPU, against one run alone: the training time of each, through the command line.

    python benchmarks/bench_shared_cpu.py [--steps 300] [--pairs 3] [--no-before]

Every run is ``mnist-tui --headless --max-steps STEPS --eval-every 1000`` in a process of its own (the tutorial
recipe: one evaluation, at the end), and its figure is the training time its summary.json reports.

1. Alone, alternating (A B A B ...): a run as it is (it counts the runs sharing its CPU, see
   mnist_tui/engine/cpu_share.py) against a run with ``--threads`` fixed at the same count (it takes no share:
   what every run did before). The ratio says what counting costs a lone run.
2. Two runs started together, as they are, ``--pairs`` times: each one's share of its lone throughput
   (median lone time / its time).
3. Unless ``--no-before``: two runs started together with ``--threads`` fixed, once, as every run did before
   (each thread spinning for threads the other run has descheduled).

Measure with nothing else training on the machine: any other run's threads change every figure here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_presets import ratio_summary  # noqa: E402 (this folder is on sys.path when run as a script)


def start(steps: int, run_dir: Path, threads: int | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mnist_tui", "--headless", "--max-steps", str(steps), "--eval-every", "1000"]
    cmd += ["--run-dir", str(run_dir)]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)


def train_seconds(proc: subprocess.Popen, run_dir: Path) -> float:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"bench_shared_cpu: a run failed (exit {proc.returncode}): {err.strip()[-300:]}")
    return float(json.loads((run_dir / "summary.json").read_text())["train_seconds"])


def together(steps: int, root: Path, name: str, threads: int | None) -> list[float]:
    dirs = [root / f"{name}-{i}" for i in range(2)]
    procs = [start(steps, d, threads) for d in dirs]
    return [train_seconds(p, d) for p, d in zip(procs, dirs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--no-before", action="store_true", help="skip two runs with --threads fixed (slow)")
    args = ap.parse_args()
    import torch

    threads = torch.get_num_threads()
    root = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__} uses {threads} threads alone; {args.steps} steps a run")

    adaptive, fixed = [], []
    for i in range(args.pairs):
        d = root / f"alone-{i}"
        adaptive.append(train_seconds(start(args.steps, d, None), d))
        d = root / f"alone-fixed-{i}"
        fixed.append(train_seconds(start(args.steps, d, threads), d))
        print(f"  alone, round {i + 1}: as it is {adaptive[-1]:.1f} s, --threads {threads} {fixed[-1]:.1f} s")
    lone = statistics.median(adaptive)

    shares = []
    for i in range(args.pairs):
        times = together(args.steps, root, f"shared-{i}", None)
        shares += [lone / t for t in times]
        print(f"  two at once, round {i + 1}: {times[0]:.1f} s and {times[1]:.1f} s")
    before = None
    if not args.no_before:
        started = time.monotonic()
        before = together(args.steps, root, "shared-fixed", threads)
        print(f"  two at once with --threads {threads}: {before[0]:.1f} s and {before[1]:.1f} s "
              f"({time.monotonic() - started:.0f} s in all)")

    print()
    print(f"alone: {lone:.1f} s (median of {args.pairs}); with --threads {threads}: {statistics.median(fixed):.1f} s")
    print("a lone run, as it is against --threads fixed:", ratio_summary([f / a for a, f in zip(adaptive, fixed)],
                                                                      "the speed", "rounds"))
    print(f"two at once, each run's share of its lone throughput: median {100 * statistics.median(shares):.0f}%, "
          f"range {100 * min(shares):.0f}-{100 * max(shares):.0f}% ({len(shares)} runs)")
    if before:
        print(f"two at once with --threads {threads} (before): {100 * lone / max(before):.0f}% and "
              f"{100 * lone / min(before):.0f}% of lone throughput")


if __name__ == "__main__":
    main()
