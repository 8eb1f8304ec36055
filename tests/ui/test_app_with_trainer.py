"""The app on the real trainer (CPU, small synthetic data), and ``run_app``'s wiring and exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from mnist_tui.config import TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.ui.live import launch as app_module
from mnist_tui.ui.live.app import MnistApp
from mnist_tui.ui.live.launch import run_app

from helpers import ui

wait_for = partial(ui.wait_for, timeout=60.0)  # the real trainer: torch loads first


def config(synthetic_dir: Path, run_dir: Path, **changes) -> TrainConfig:
    values = {
        "dataset": str(synthetic_dir),
        "max_steps": 12,
        "eval_every": 6,
        "batch_size": 50,
        "run_dir": str(run_dir),
        "device": "cpu",
    }
    return TrainConfig(**{**values, **changes})


def test_the_real_trainer_drives_the_screen(synthetic_dir: Path, tmp_path: Path):
    cfg = config(synthetic_dir, tmp_path / "run")

    def source(control: Control):
        from mnist_tui.runs.start import make_trainer

        return make_trainer(cfg, control).run()

    app = MnistApp(source)  # the real device statistics reader

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.trainer_done)
            await wait_for(pilot, lambda: app.device_panel.stats is not None)
            assert app.run_state == ev.RunState.FINISHED, app.status.message
            assert app.finished.reason == ev.Reason.COMPLETED
            assert app.run_dir == str(tmp_path / "run")
            assert len(app.loss_chart.raw) == 12
            assert {6.0, 12.0} <= set(app.accuracy_chart.accuracy.xs)  # every 6 iterations
            assert len(app.train_digits.images) == 40 and app.predictions.predictions
            assert app.device_panel.stats.torch_threads is not None  # torch is loaded by now
            assert app.device_panel.torch_version
            await pilot.press("S")
            await pilot.pause()
            await pilot.press("q")
            await pilot.pause()

    asyncio.run(asyncio.wait_for(drive(), 120))
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "summary.json").read_text())["reason"] == "completed"
    assert list(run_dir.glob("screenshot-*.svg"))


def fake_run(answer: list[str]):
    """Replace App.run with a headless drive: wait for the run to end, then press q."""

    def run(self: MnistApp, *args, **kwargs):
        async def drive() -> None:
            async with self.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: self.trainer_done)
                answer.append(self.run_state)
                await pilot.press("q")
                await pilot.pause()

        asyncio.run(asyncio.wait_for(drive(), 120))

    return run


def test_run_app_returns_0_for_a_finished_run(synthetic_dir: Path, tmp_path: Path, monkeypatch):
    states: list[str] = []
    monkeypatch.setattr(MnistApp, "run", fake_run(states))
    assert run_app(config(synthetic_dir, tmp_path / "run", max_steps=8)) == 0
    assert states == [ev.RunState.FINISHED]
    assert (tmp_path / "run" / "summary.json").exists()


def test_run_app_returns_1_when_the_run_fails(tmp_path: Path, monkeypatch):
    states: list[str] = []
    monkeypatch.setattr(MnistApp, "run", fake_run(states))
    cfg = TrainConfig(dataset=str(tmp_path / "no-such-data"), run_dir=str(tmp_path / "run"), device="cpu")
    assert run_app(cfg) == 1
    assert states == [ev.RunState.FAILED]


def test_the_app_module_does_not_import_torch():
    code = (
        "import sys, time; t = time.perf_counter(); import mnist_tui.ui.live.app; "
        "print(round(time.perf_counter() - t, 3)); sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, "mnist_tui.ui.live.app imported torch: the first frame would wait for it"


@pytest.mark.parametrize("signal_name", ["SIGTERM"])
def test_a_signal_stops_the_run_cleanly(signal_name, tmp_path: Path, monkeypatch):
    import os
    import signal
    import threading

    from helpers.scripted import DemoRun

    source = DemoRun(hold_at=10, run_dir=str(tmp_path))
    monkeypatch.setattr(app_module, "MnistApp", lambda *a, **k: MnistApp(source, **k))

    def run(self: MnistApp, *args, **kwargs):
        async def drive() -> None:
            async with self.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: self.iteration == 10)
                threading.Timer(0.05, os.kill, (os.getpid(), getattr(signal, signal_name))).start()
                await wait_for(pilot, lambda: not self.is_running, timeout=10)

        asyncio.run(asyncio.wait_for(drive(), 60))

    monkeypatch.setattr(MnistApp, "run", run)
    assert run_app(TrainConfig(run_dir=str(tmp_path))) == 0
    assert source.events_sent[-1] == "run_finished"
