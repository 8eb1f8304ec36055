"""Detached runs: a background process trains, viewers attach and steer it, `runs` lists what is going on.

Every test here starts real background processes (``mnist-tui --detach``) on small synthetic data.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from helpers.engine import Consumer, of, state_is, until
from helpers.ui import make_app, run_async, wait_for

from mnist_tui.config import EarlyStoppingConfig, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.runs.devstats import DeviceStats
from mnist_tui.runs.client import RemoteRun
from mnist_tui.runs.protocol import socket_path_for
from mnist_tui.runs.server import RunServer
from mnist_tui.runs.catalogue import CRASHED, list_runs, read_run, recorded_events
from mnist_tui.ui.live.mode import AppMode
from mnist_tui.ui.live.viewer import attach_app

TIMEOUT = 120


def mnist_tui(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_tui", *args], capture_output=True, text=True, timeout=TIMEOUT, **kwargs
    )


def start_detached(synthetic_dir: Path, run: Path, *extra: str) -> int:
    """`mnist-tui --detach` on synthetic data (long enough to outlive the test); the background pid."""
    result = mnist_tui("--detach", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                       "--eval-every", "4", "--epochs", "2000", "--threads", "1", "--run-dir", str(run),
                       *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"mnist-tui attach {run}" in result.stdout
    return json.loads((run / "process.json").read_text())["pid"]


class Viewer(Consumer):
    """A RemoteRun whose events are collected by a thread, as the app's worker would; a test waits on them."""

    def __init__(self, run: Path) -> None:
        info = read_run(run)
        assert info is not None and info.active and info.socket, info
        self.remote = RemoteRun(info.socket, run_dir=run)
        super().__init__(self.remote.events())


def test_detach_attach_pause_close_reattach_stop(synthetic_dir: Path, run: Path):
    pid = start_detached(synthetic_dir, run)
    info = read_run(run)
    assert info.active and info.mode == "detached" and info.pid == pid
    assert stat.S_IMODE(os.stat(info.socket).st_mode) == 0o600  # only this user can reach it

    first = Viewer(run)
    first.wait_until(lambda: len(first.of(ev.Evaluation)) >= 2, "evaluations")
    assert isinstance(first.events[0], ev.StateChanged)  # the history from the run's first event
    assert len(first.of(ev.RunStarted)) == 1 and first.of(ev.Previews)

    first.remote.pause()
    first.wait_for(state_is(ev.RunState.PAUSED), "the pause")
    assert read_run(run).state == ev.RunState.PAUSED
    first.remote.close()  # the viewer leaves; the run stays (paused)
    first.join(10)
    assert read_run(run).active  # and the two viewers below steer it on

    second, third = Viewer(run), Viewer(run)  # two viewers at once
    for viewer in (second, third):
        viewer.wait_until(lambda v=viewer: v.state() == ev.RunState.PAUSED, "the history")
    assert second.remote.paused  # the hello says paused, so p resumes
    steps = [e.iteration for e in second.of(ev.StepMetrics)]
    assert steps == sorted(steps) and len(second.of(ev.RunStarted)) == 1  # whole history, nothing twice
    second.remote.resume()
    third.wait_until(lambda: third.state() == ev.RunState.RUNNING, "the resume, seen by the other viewer")
    second.remote.set_lr(1e-4)
    third.wait_for(lambda e: isinstance(e, ev.SettingsChanged) and e.changes.get("lr") == 1e-4, "the new lr")
    second.remote.set_early_stopping(EarlyStoppingConfig(patience=7, warmup_evals=500))
    third.wait_for(
        lambda e: isinstance(e, ev.SettingsChanged) and e.changes.get("early_stopping", {}).get("patience") == 7,
        "the new early-stopping settings",
    )
    saved = len(third.events)
    second.remote.save_now()
    third.wait_for(lambda e: isinstance(e, ev.CheckpointSaved), "a checkpoint on demand", after=saved)
    third.remote.stop()
    for viewer in (second, third):
        finished = of(viewer.join(), ev.RunFinished)
        assert [f.reason for f in finished] == [ev.Reason.STOPPED]
    until(lambda: not read_run(run).active, what="the process to end")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reason"] == ev.Reason.STOPPED
    assert read_run(run).state == ev.Reason.STOPPED
    assert not (run / "control.sock").exists()
    assert "run ended (stopped)" in (run / "background.log").read_text()


def test_a_killed_background_process_is_reported_as_failed(synthetic_dir: Path, run: Path):
    pid = start_detached(synthetic_dir, run)
    until(lambda: (run / "checkpoints" / "last.pt").exists(), what="a first checkpoint")
    os.kill(pid, signal.SIGKILL)
    until(lambda: not read_run(run).active, what="the process to go")
    info = read_run(run)
    assert info.state == ev.RunState.FAILED and info.detail == CRASHED and info.pid is None
    events = list(recorded_events(run, follow=True))  # no process: does not wait
    assert isinstance(events[-1], ev.RunFinished) and events[-1].message == CRASHED

    table = mnist_tui("runs", "--headless", str(run.parent))
    assert table.returncode == 0 and "failed" in table.stdout
    resumed = mnist_tui("--resume", str(run), "--detach")  # and it can go on
    assert resumed.returncode == 0, resumed.stderr
    until(lambda: read_run(run).active, what="the resumed run")
    RemoteRun(read_run(run).socket).stop()
    until(lambda: not read_run(run).active, what="the resumed run to stop")
    started = [e for e in recorded_events(run) if isinstance(e, ev.RunStarted)]
    assert len(started) == 2 and started[1].start_iteration > 0


def test_detach_refuses_bad_input_in_the_terminal(synthetic_dir: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = mnist_tui("--detach", "--dataset", str(empty), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist-tui: error:") and str(empty) in lines[0]
    assert not (tmp_path / "run").exists()  # nothing written


def test_attach_without_an_active_run_says_so(tmp_path: Path):
    result = mnist_tui("attach")
    assert result.returncode == 2 and "no active run" in result.stderr
    result = mnist_tui("attach", str(tmp_path))
    assert result.returncode == 2 and "not a mnist-tui run directory" in result.stderr


def test_runs_lists_state_progress_and_best(synthetic_dir: Path, tmp_path: Path):
    done = tmp_path / "runs" / "done"
    result = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                       "--max-steps", "8", "--eval-every", "4", "--run-dir", str(done))  # fmt: skip
    assert result.returncode == 0, result.stderr
    (infos,) = [list_runs([tmp_path / "runs"])]
    assert [i.path for i in infos] == [done.resolve()]
    info = infos[0]
    assert (info.state, info.active, info.iteration, info.total_steps, info.device) == ("finished", False, 8, 8, "cpu")
    assert info.best_accuracy is not None and info.progress == 1.0
    summary = json.loads((done / "summary.json").read_text())
    assert info.best_accuracy == summary["best_validation_accuracy"]  # the best figure is the validation set's
    table = mnist_tui("runs", "--headless", str(tmp_path / "runs"))
    assert "finished" in table.stdout and "100%" in table.stdout


def test_long_run_directory_paths_get_a_private_socket(tmp_path: Path):
    deep = tmp_path / ("d" * 120) / "run"
    path = socket_path_for(deep)
    assert len(str(path)) < 108 and path.parent != deep
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@run_async
async def test_the_app_attached_to_a_detached_run(synthetic_dir: Path, run: Path):
    """The same screen as a normal run: history first, then live; p pauses the run; q leaves it running."""
    start_detached(synthetic_dir, run)
    app = attach_app(read_run(run))
    app.stats_reader = lambda device: DeviceStats()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.run_state == ev.RunState.RUNNING and len(app.accuracy_chart.accuracy.xs) >= 2, 60)
        assert app.viewer and app.run_started is not None and len(app.train_digits.images) == 40
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED, 30)
        await pilot.press("q")  # no question: the viewer leaves, the run stays
        await wait_for(pilot, lambda: not app.is_running, 10)
    info = read_run(run)
    assert info.active and info.state == ev.RunState.PAUSED
    RemoteRun(info.socket).stop()
    until(lambda: not read_run(run).active, what="the run to stop")


def detachable_app(synthetic_dir: Path, run: Path):
    """The app on a long run trained in this process, as `mnist-tui` runs it: it can detach."""
    cfg = TrainConfig(dataset=str(synthetic_dir), device="cpu", batch_size=50, eval_every=4, epochs=2000,
                      threads=1, run_dir=str(run), early_stopping=EarlyStoppingConfig(enabled=False))  # fmt: skip
    # (no early stop: on the synthetic set it could end the run before the test stops it)

    def source(control: Control):
        from mnist_tui.runs.start import make_trainer

        return RunServer(control, mode="app").wrap(make_trainer(cfg, control).run())

    return make_app(source, run_dir=str(run), mode=AppMode.TRAIN_DETACHABLE)


@run_async
async def test_detach_from_a_normal_run_hands_it_to_a_background_process(synthetic_dir: Path, run: Path):
    from mnist_tui.runs.background import launch
    from mnist_tui.ui.screens import QuitScreen

    app = detachable_app(synthetic_dir, run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.accuracy_chart.accuracy.xs) >= 2, 60)
        assert read_run(run).mode == "app" and read_run(run).active  # others can attach to it too
        watcher = Viewer(run)  # a viewer of the app's run follows it to the background process
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("d")
        await wait_for(pilot, lambda: not app.is_running, 60)
    assert app.handed_over is not None and not (run / "summary.json").exists()
    assert launch(None, resume=str(run), quiet=True) == 0  # what run_app does next
    info = read_run(run)
    assert info.active and info.mode == "detached"
    viewer = Viewer(run)
    viewer.wait_until(lambda: len(viewer.of(ev.RunStarted)) == 2, "the background process")
    assert viewer.of(ev.RunStarted)[1].start_iteration == app.handed_over.iteration
    assert any(isinstance(e, ev.RunDetached) for e in viewer.events)
    attached = attach_app(read_run(run))  # the charts show the whole run, from before the handover on
    attached.stats_reader = lambda device: DeviceStats()
    async with attached.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: attached.iteration > app.handed_over.iteration, 60)
        assert attached.loss_chart.start_iteration == 0 and attached.accuracy_chart.start_iteration == 0
        assert min(attached.accuracy_chart.accuracy.xs) < app.handed_over.iteration
        await pilot.press("q")
    viewer.remote.stop()
    for v in (viewer, watcher):
        v.join()
        kinds = [e.kind for e in v.events]
        assert [f.reason for f in v.of(ev.RunFinished)] == [ev.Reason.STOPPED], (v is watcher, kinds[-6:], len(kinds), v.error, v.thread.is_alive())
        assert len(v.of(ev.RunStarted)) == 2 and len(v.of(ev.RunDetached)) == 1
    steps = [e.iteration for e in watcher.of(ev.StepMetrics)]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # nothing twice across the handover


@run_async
async def test_a_run_detached_while_paused_stays_paused_in_the_background(synthetic_dir: Path, run: Path):
    from mnist_tui.runs.background import launch
    from mnist_tui.ui.screens import QuitScreen

    app = detachable_app(synthetic_dir, run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.iteration >= 4, 60)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED, 30)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("d")
        await wait_for(pilot, lambda: not app.is_running, 60)
    assert app.handed_over is not None and app.handed_over.paused
    assert launch(None, resume=str(run), quiet=True, paused=app.handed_over.paused) == 0  # as run_app does
    viewer = Viewer(run)
    started = viewer.wait_for(lambda e: isinstance(e, ev.RunStarted) and e.start_iteration > 0, "the background process")
    paused = viewer.wait_for(state_is(ev.RunState.PAUSED), "the paused background run", after=started)
    viewer.remote.save_now()  # answered while paused: a checkpoint where it was handed over, and no step
    saved = viewer.wait_for(lambda e: isinstance(e, ev.CheckpointSaved), "a checkpoint on demand", after=paused)
    assert viewer.events[saved].iteration == app.handed_over.iteration
    assert not [e for e in viewer.events[paused + 1 : saved] if isinstance(e, (ev.StepMetrics, ev.StateChanged))]
    viewer.remote.resume()
    viewer.wait_for(lambda e: isinstance(e, ev.StepMetrics) and e.iteration > app.handed_over.iteration, "steps")
    viewer.remote.stop()
    viewer.join()
    assert [f.reason for f in viewer.of(ev.RunFinished)] == [ev.Reason.STOPPED]


@run_async
async def test_the_runs_screen_lists_runs_and_attaches_or_inspects(synthetic_dir: Path, tmp_path: Path):
    from textual.widgets import DataTable

    from mnist_tui.ui.apps.runs_app import RunsApp

    root = tmp_path / "runs"
    for name in ("a", "b"):
        result = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                           "--max-steps", "4", "--eval-every", "4", "--run-dir", str(root / name))  # fmt: skip
        assert result.returncode == 0, result.stderr
    (root / "not-a-run").mkdir()
    for key, action in (("enter", "attach"), ("i", "inspect")):
        app = RunsApp([str(root)])
        async with app.run_test(size=(120, 20)) as pilot:
            table = app.query_one(DataTable)
            assert table.row_count == 2
            assert {str(table.get_row_at(i)[0]) for i in range(2)} == {"finished"}
            await pilot.press("down", key)
            await wait_for(pilot, lambda: not app.is_running)
        assert app.return_value == (action, str(app.runs[1].path))


def test_device_stats_of_the_training_process_for_a_viewer():
    from mnist_tui.runs import devstats

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        devstats._reset_for_tests()
        stats = devstats.read_device_stats("cpu", pid=child.pid)
        assert stats.process_rss is not None and stats.process_rss < 200 * 2**20  # the sleeping child's, not ours
        assert stats.torch_threads is None  # only the training process itself can read torch's
    finally:
        child.kill()
        devstats._reset_for_tests()


def test_a_run_trained_on_another_host_is_not_called_failed(synthetic_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    result = mnist_tui("--headless", "--dataset", str(synthetic_dir), "--device", "cpu", "--batch-size", "50",
                       "--max-steps", "4", "--eval-every", "4", "--run-dir", str(run))  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run / "summary.json").unlink()  # as if it were still going, on the machine that wrote process.json
    process = json.loads((run / "process.json").read_text())
    assert read_run(run).state == ev.RunState.FAILED  # here: its process is gone
    (run / "process.json").write_text(json.dumps({**process, "host": "gpu-box-7"}))
    info = read_run(run)
    assert info.state == "unknown" and "gpu-box-7" in info.detail and not info.active


def test_a_torn_last_line_is_cut_before_a_resumed_run_appends(tmp_path: Path):
    """A process killed mid-write leaves half a line; the next process must not glue its first event to it."""
    from mnist_tui.runs.rundir import RunDirectory

    rd = RunDirectory(tmp_path / "run")
    rd.create(TrainConfig(), fresh=True)
    rd.record(ev.Log("first"))
    rd.close()
    with open(rd.path / "metrics.jsonl", "ab") as f:
        f.write(b'{"t":1.0,"event":"log","mess')  # killed here
    again = RunDirectory(tmp_path / "run")
    again.record(ev.Log("after the crash"))
    again.close()
    lines = (rd.path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["first", "after the crash"]
