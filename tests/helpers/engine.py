"""Helpers for engine tests: a small config on the synthetic data, running a trainer to its end, and waiting
for what a run does (an event, a blocked trainer, a condition) with a deadline instead of a sleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from mnist_tui.config import TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.runs.start import make_trainer

DEADLINE = 120.0  # seconds: far beyond what any wait here takes, to fail instead of hanging


def config(synthetic_dir: Path, run_dir: Path, **kw) -> TrainConfig:
    base = dict(
        dataset=str(synthetic_dir),
        epochs=2,
        batch_size=50,
        eval_every=4,
        device="cpu",
        seed=3,
        lr=2e-3,
        metrics_interval=0.0,
        run_dir=str(run_dir),
    )
    base.update(kw)
    return TrainConfig(**base)


def run_all(cfg: TrainConfig, control: Control | None = None) -> list[ev.Event]:
    return list(make_trainer(cfg, control).run())


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def state_is(state: ev.RunState) -> Callable[[ev.Event], bool]:
    return lambda event: isinstance(event, ev.StateChanged) and event.state == state


class Consumer:
    """Events consumed by a thread of their own, as a front end's worker consumes a trainer's (or a viewer's
    a remote run's); the test thread steers the run and waits for what it needs to see."""

    def __init__(self, events: Iterable[ev.Event]) -> None:
        self.events: list[ev.Event] = []
        self.error: BaseException | None = None
        self.done = False
        self._changed = threading.Condition()
        self.thread = threading.Thread(target=self._consume, args=(events,), daemon=True)
        self.thread.start()

    def _consume(self, events: Iterable[ev.Event]) -> None:
        try:
            for event in events:
                with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except BaseException as exc:  # noqa: BLE001 - kept for the test that looks
            self.error = exc
            raise
        finally:
            with self._changed:
                self.done = True
                self._changed.notify_all()

    def of(self, cls: type) -> list:
        return of(self.events, cls)

    def state(self) -> str | None:
        states = self.of(ev.StateChanged)
        return states[-1].state if states else None

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        """Until ``condition()`` holds, checked at every event; fails at the deadline or when the events end."""
        with self._changed:
            self._changed.wait_for(lambda: condition() or self.done, timeout)
            held = condition()
        assert held, f"no {what} within {timeout:.0f} s (ended: {self.done}; last: {self.events[-3:]}, {self.error!r})"

    def wait_for(self, accept: Callable[[ev.Event], bool], what: str, after: int = 0) -> int:
        """The position of the first event from position ``after`` on that ``accept`` takes."""
        position = after

        def seen() -> bool:
            nonlocal position  # each look goes on from where the last one stopped
            while position < len(self.events):
                if accept(self.events[position]):
                    return True
                position += 1
            return False

        self.wait_until(seen, what)
        return position

    def join(self, timeout: float = DEADLINE) -> list[ev.Event]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the events did not end within {timeout:.0f} s: {self.events[-3:]}"
        return self.events


class WatchedControl(Control):
    """A Control that tells when the trainer blocks waiting for a command (paused, not training)."""

    def __init__(self) -> None:
        super().__init__()
        self.trainer_waiting = threading.Event()

    def wait_for_command(self, timeout: float | None = None) -> None:
        self.trainer_waiting.set()
        super().wait_for_command(timeout)


def until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """For what no event announces (a file written, a process gone): look every 50 ms until the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
