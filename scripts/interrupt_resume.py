"""Interrupt headless runs at random moments with random signals, resume each, and check nothing was lost.

    python scripts/interrupt_resume.py [--trials 20] [--seed 0] [--dataset DIR|mnist]

First one uninterrupted reference run, timed from its first step to its end. Then, per trial: start the
same run, send SIGINT, SIGTERM or SIGHUP after a delay drawn within the reference run's training time,
check it exits 130 with `summary.json` saying `interrupted` and a loadable `last.pt` at the step it
reached, resume it with `--resume`, and compare the whole run with the reference: every step's training
loss, every scheduled evaluation (of the validation set) and every epoch-end one of the test set, and the final
test and validation accuracies. A trial whose run had already ended when its
signal came (a slower or faster machine) interrupted nothing: it is reported, checked to have exited
normally, and not counted; trials go on until --trials runs were interrupted (at most three times as many).
Prints one line per trial and "N of N interrupted runs resumed to the right step with metrics intact".
Exit code 1 if any trial failed.
Without --dataset it trains on a small synthetic set in the real MNIST file format (tests/helpers/synthetic.py).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mnist_tui.engine.checkpoints import load_checkpoint  # noqa: E402

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def command(dataset: str, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "mnist_tui", "--headless", "--device", "cpu", "--dataset", dataset,
            "--batch-size", "50", "--eval-every", "4", "--epochs", "40", "--run-dir", str(run_dir)]  # fmt: skip


def history(run_dir: Path) -> tuple[dict[int, float], dict[tuple[str, int], float], dict]:
    """Per-iteration training loss, and the accuracy of each scheduled evaluation (of the validation set, every
    4 steps and at each epoch end) and each epoch-end one of the test set, keyed by (set, iteration), from
    metrics.jsonl; and the summary. Left out: the evaluations a stop makes where it stopped, and the test one
    of restored best weights, which an interrupted run makes and the reference does not."""
    losses: dict[int, float] = {}
    evals: dict[tuple[str, int], float] = {}
    steps_per_epoch = 0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "run_started":
            steps_per_epoch = event["steps_per_epoch"]
        elif event["event"] == "step":
            first = event["iteration"] - len(event["losses"]) + 1
            for i, loss in enumerate(event["losses"]):
                losses[first + i] = loss
        elif event["event"] == "evaluation" and event.get("weights_from") is None:
            it, split = event["iteration"], event.get("split", "test")  # no split: a run from before validation sets
            epoch_end = steps_per_epoch > 0 and it % steps_per_epoch == 0
            if epoch_end or (split != "test" and it % 4 == 0):
                evals[(split, it)] = event["accuracy"] if "accuracy" in event else event["test_accuracy"]
    return losses, evals, json.loads((run_dir / "summary.json").read_text())


def start(dataset: str, run_dir: Path) -> tuple[subprocess.Popen, float]:
    """Start a run; return once it trains (the run directory is announced), with the time it began."""
    proc = subprocess.Popen(command(dataset, run_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # training has begun once the run directory is announced
        if line.startswith("Run directory"):
            break
    return proc, time.monotonic()


def trial(n: int, dataset: str, base: Path, reference, duration: float, rng: random.Random) -> tuple[bool | None, str]:
    """(True, detail) intact, (False, detail) a failure, (None, detail) the run ended before its signal."""
    run_dir = base / f"trial-{n}"
    sig = rng.choice(SIGNALS)
    delay = rng.uniform(0.0, duration)
    proc, began = start(dataset, run_dir)
    time.sleep(max(0.0, began + delay - time.monotonic()))
    proc.send_signal(sig)
    proc.communicate(timeout=300)
    name = signal.Signals(sig).name
    if not (run_dir / "summary.json").exists():
        return False, f"{name} after {delay:.2f}s: no summary.json"
    summary = json.loads((run_dir / "summary.json").read_text())
    reached = summary["iteration"]
    if summary["reason"] != "interrupted":  # it had ended when the signal came: it must have exited normally
        if proc.returncode != 0:
            return False, f"{name} after {delay:.2f}s, after the run ended ({summary['reason']}): exit {proc.returncode}"
        return None, f"{name} after {delay:.2f}s: the run had already ended ({summary['reason']}, {reached} steps)"
    if proc.returncode != 130:
        return False, f"{name} after {delay:.2f}s: exit {proc.returncode}, reason {summary['reason']}"
    saved = load_checkpoint(run_dir / "checkpoints" / "last.pt")["loop"]["iteration"]
    if saved != reached:
        return False, f"{name}: summary says step {reached}, last.pt holds step {saved}"
    resumed = subprocess.run([sys.executable, "-m", "mnist_tui", "--resume", str(run_dir), "--headless"],
                             capture_output=True, text=True)  # fmt: skip
    if resumed.returncode != 0:
        return False, f"{name} at step {reached}: resume failed: {resumed.stderr.strip()[-200:]}"
    losses, evals, final = history(run_dir)
    ref_losses, ref_evals, ref_final = reference
    problems = []
    if losses != ref_losses:
        bad = [i for i in ref_losses if losses.get(i) != ref_losses[i]]
        problems.append(f"losses differ from step {bad[0] if bad else '?'}")
    if evals != ref_evals:
        problems.append("evaluations differ")
    figures = ("final_test_accuracy", "validation_accuracy", "best_validation_accuracy", "best_iteration", "iteration")
    differ = [f"{k} {final.get(k)} vs {ref_final.get(k)}" for k in figures if final.get(k) != ref_final.get(k)]
    if differ:
        problems.append("final " + ", ".join(differ))
    detail = f"{name} after {delay:.2f}s, stopped at step {reached}, resumed to {final['iteration']}"
    return not problems, detail + (": " + "; ".join(problems) if problems else ": intact")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", help="a data set name or directory (default: a synthetic set made here)")
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="interrupt-resume-"))
    dataset = args.dataset
    if dataset is None:
        from helpers.synthetic import write_dataset

        dataset = str(write_dataset(base / "data", n_train=600, n_test=200))
    proc, began = start(dataset, base / "reference")
    proc.communicate()
    duration = time.monotonic() - began
    if proc.returncode != 0:
        print(f"the reference run failed (exit {proc.returncode})")
        return 1
    reference = history(base / "reference")
    print(
        f"reference: {reference[2]['iteration']} steps in {duration:.1f} s, "
        f"final test accuracy {reference[2]['final_test_accuracy']:.2%}"
    )
    rng = random.Random(args.seed)
    ok = interrupted = n = 0
    while interrupted < args.trials and n < 3 * args.trials:
        n += 1
        good, detail = trial(n, dataset, base, reference, duration, rng)
        if good is None:
            print(f"{n:>3} skip {detail}", flush=True)
            continue
        interrupted += 1
        ok += good
        print(f"{n:>3} {'ok  ' if good else 'FAIL'} {detail}", flush=True)
    print(f"{ok} of {interrupted} interrupted runs resumed to the right step with metrics intact ({n} trials)")
    return 0 if ok == interrupted == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
