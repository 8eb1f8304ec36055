"""The same seeded run, trained through the command line in four ways, and whether every step's loss and every
evaluation come out identical (scripts/reproducible.py prints it; tests/engine/test_cpu_share_reproducible.py
asserts it).

``alone``: the reference. ``beside``: another run (another seed) starts while it trains and is stopped while it
trains; it is held still (SIGSTOP) from the moment it has decided its threads until the other run has decided
its own, so the two surely overlap. ``fixed``: ``--threads`` as the reference recorded, started while another run
trains. ``resumed``: interrupted (SIGTERM) and resumed twice, the first resume while another run trains.

Every run of a check shares one claims directory of its own (MNIST_TUI_CPU_SHARE_DIR), so runs outside it are not
counted, and no OMP_NUM_THREADS, so that a run chooses its own threads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEADLINE = 300.0  # seconds any wait here may take before the check gives up
EVAL_EVERY = 4


@dataclass
class History:
    """What a run computed: every step's training loss, every scheduled evaluation (of the validation set every
    EVAL_EVERY steps, of both sets at each epoch end: those an interruption adds where it stopped, and those of
    restored best weights, are left out), the threads each of its parts trained on, and its summary."""

    losses: dict[int, float]
    evaluations: dict[tuple[str, int], float]
    threads: list[int]
    summary: dict

    def differences(self, reference: History) -> list[str]:
        problems = []
        if self.losses != reference.losses:
            bad = [i for i in sorted(reference.losses) if self.losses.get(i) != reference.losses[i]]
            problems.append(f"losses differ from step {bad[0] if bad else '?'}" + _extra(self.losses, reference))
        if self.evaluations != reference.evaluations:
            bad = [k for k in sorted(reference.evaluations) if self.evaluations.get(k) != reference.evaluations[k]]
            extra = sorted(set(self.evaluations) - set(reference.evaluations))
            problems.append(f"evaluations differ ({len(bad)} of {len(reference.evaluations)}; {len(extra)} more)")
        for key in ("final_test_accuracy", "iteration"):
            if self.summary.get(key) != reference.summary.get(key):
                problems.append(f"{key} {self.summary.get(key)} vs {reference.summary.get(key)}")
        return problems


def _extra(losses: dict[int, float], reference: History) -> str:
    missing = len(set(reference.losses) - set(losses))
    return f" ({missing} steps missing)" if missing else ""


def history(run_dir: Path) -> History:
    losses: dict[int, float] = {}
    evaluations: dict[tuple[str, int], float] = {}
    threads: list[int] = []
    steps_per_epoch = 0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "run_started":
            steps_per_epoch = event["steps_per_epoch"]
            threads.append(event["threads"])
        elif event["event"] == "step":
            first = event["iteration"] - len(event["losses"]) + 1
            for i, loss in enumerate(event["losses"]):
                losses[first + i] = loss
        elif event["event"] == "evaluation" and event.get("weights_from") is None:
            it, split = event["iteration"], event.get("split", "test")
            epoch_end = steps_per_epoch > 0 and it % steps_per_epoch == 0
            if epoch_end or (split != "test" and it % EVAL_EVERY == 0):
                evaluations[(split, it)] = event["accuracy"]
    return History(losses, evaluations, threads, json.loads((run_dir / "summary.json").read_text()))


class Check:
    """Runs of one seed on ``dataset`` for ``epochs``, in ``base``, counted among themselves only."""

    def __init__(self, dataset: str, base: Path, epochs: int, seed: int = 0) -> None:
        self.dataset, self.base, self.epochs, self.seed = dataset, base, epochs, seed
        self.claims = base / "claims"
        self.claims.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        self.env["MNIST_TUI_CPU_SHARE_DIR"] = str(self.claims)
        self.others = 0

    # --- processes ---------------------------------------------------------------------------------------------
    def train(self, run_dir: Path, *extra: str, seed: int | None = None) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "mnist_tui", "--headless", "--device", "cpu", "--dataset", self.dataset,
               "--batch-size", "50", "--eval-every", str(EVAL_EVERY), "--epochs", str(self.epochs),
               "--seed", str(self.seed if seed is None else seed), "--run-dir", str(run_dir), *extra]  # fmt: skip
        return self._start(cmd)

    def resume(self, run_dir: Path) -> subprocess.Popen:
        return self._start([sys.executable, "-m", "mnist_tui", "--resume", str(run_dir), "--headless"])

    def _start(self, cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env, text=True)

    def other(self) -> tuple[subprocess.Popen, Path]:
        """Another run (another seed, a long one) on the same CPU, once it has decided its threads."""
        self.others += 1
        run_dir = self.base / f"other-{self.others}"
        extra = ("--epochs", str(self.epochs * 20), "--no-early-stopping", "--no-restore-best")
        proc = self.train(run_dir, *extra, seed=self.seed + 1)
        self.wait(lambda: self.started(run_dir), "the other run to start training", proc)
        return proc, run_dir

    def started(self, run_dir: Path) -> bool:
        """Whether the (fresh) run in ``run_dir`` has started: its threads are set, its training begins."""
        return any(event.get("event") == "run_started" for event in _events(run_dir))

    def wait(self, condition: Callable[[], bool], what: str, proc: subprocess.Popen | None = None) -> None:
        end = time.monotonic() + DEADLINE
        while not condition():
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the run ended (exit {proc.returncode}) before {what}: {_tail(proc)}")
            if time.monotonic() > end:
                raise RuntimeError(f"no {what} within {DEADLINE:.0f} s")
            time.sleep(0.02)

    def finish(self, proc: subprocess.Popen, expect: int = 0) -> None:
        proc.wait(DEADLINE)
        if proc.returncode != expect:
            raise RuntimeError(f"a run exited {proc.returncode} (expected {expect}): {_tail(proc)}")

    def stop(self, proc: subprocess.Popen) -> None:
        """Stop a run as a signal does (it saves and exits 130)."""
        proc.send_signal(signal.SIGTERM)
        self.finish(proc, 130)

    def stop_other(self, proc: subprocess.Popen) -> None:
        """Stop another run, which may have ended on its own meanwhile (on a fast machine)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(DEADLINE)
        if proc.returncode not in (0, 130):
            raise RuntimeError(f"the other run exited {proc.returncode}: {_tail(proc)}")

    def reached(self, run_dir: Path) -> int:
        """The last iteration the run's metrics report."""
        steps = [event["iteration"] for event in _events(run_dir) if event.get("event") == "step"]
        return steps[-1] if steps else 0

    # --- the cases ---------------------------------------------------------------------------------------------
    def alone(self) -> History:
        run_dir = self.base / "alone"
        self.finish(self.train(run_dir))
        return history(run_dir)

    def beside(self) -> History:
        run_dir = self.base / "beside"
        proc = self.train(run_dir)
        self.wait(lambda: self.started(run_dir), "the run to start training", proc)
        proc.send_signal(signal.SIGSTOP)  # held still while the other run starts: they surely overlap
        try:
            other, _ = self.other()
        finally:
            proc.send_signal(signal.SIGCONT)
        at = self.reached(run_dir)
        self.wait(lambda: self.reached(run_dir) > at or proc.poll() is not None, "steps beside the other run", proc)
        self.stop_other(other)  # the other run stops while this one trains (or has just ended)
        self.finish(proc)
        return history(run_dir)

    def fixed(self, threads: int) -> History:
        run_dir = self.base / "fixed"
        other, _ = self.other()  # already training when this one starts
        try:
            self.finish(self.train(run_dir, "--threads", str(threads)))
        finally:
            self.stop_other(other)
        return history(run_dir)

    def resumed(self, total: int) -> History:
        """Interrupted at about a third and two thirds of ``total`` steps; the first resume beside another run."""
        run_dir = self.base / "resumed"
        proc = self.train(run_dir)
        self.interrupt(proc, run_dir, total // 3)
        other, _ = self.other()
        try:
            proc = self.resume(run_dir)
            self.interrupt(proc, run_dir, 2 * total // 3)
        finally:
            self.stop_other(other)
        self.finish(self.resume(run_dir))
        return history(run_dir)

    def interrupt(self, proc: subprocess.Popen, run_dir: Path, step: int) -> None:
        self.wait(lambda: self.reached(run_dir) >= step, f"step {step}", proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(DEADLINE)
        summary = json.loads((run_dir / "summary.json").read_text())
        if summary["reason"] != "interrupted":
            raise RuntimeError(
                f"{run_dir.name}: the run ended ({summary['reason']}) before it could be interrupted at step {step}: "
                "give it more --epochs"
            )
        if proc.returncode != 130:
            raise RuntimeError(f"an interrupted run exited {proc.returncode} (expected 130): {_tail(proc)}")


def _events(run_dir: Path) -> list[dict]:
    """The events in a run's metrics.jsonl so far (a line being written is left out)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def _tail(proc: subprocess.Popen) -> str:
    try:
        err = proc.stderr.read() if proc.stderr else ""
    except (OSError, ValueError):
        err = ""
    return (err or "").strip()[-300:]


def run_check(dataset: str, base: Path, epochs: int, report: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Every case against the lone run: the differences per case (empty: identical), reported as it goes."""
    check = Check(dataset, base, epochs)
    reference = check.alone()
    threads = reference.threads[0]
    report(
        f"alone:    {reference.summary['iteration']} steps on {threads} thread(s), {len(reference.evaluations)} "
        f"evaluations, final test accuracy {reference.summary['final_test_accuracy']:.4%}"
    )
    results: dict[str, list[str]] = {}
    cases = {
        "beside": ("another run started and stopped during it", check.beside),
        "fixed": (f"--threads {threads}, started while another run trains", lambda: check.fixed(threads)),
        "resumed": (
            "interrupted and resumed twice, once beside another run",
            lambda: check.resumed(reference.summary["iteration"]),
        ),
    }
    for name, (what, case) in cases.items():
        got = case()
        problems = got.differences(reference)
        if got.threads != [threads] * len(got.threads):
            problems.append(f"trained on {got.threads} thread(s), the lone run on {threads}")
        results[name] = problems
        verdict = "identical" if not problems else "DIFFERENT: " + "; ".join(problems)
        report(f"{name + ':':<9} {what} ({len(got.threads)} part(s), threads {got.threads}): {verdict}")
    return results
