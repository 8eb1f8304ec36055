"""The live app, driven by scripted event sources: each key in each state, and each way a run can end."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Footer

from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control, RunControl
from mnist_tui.runs.devstats import DeviceStats
from mnist_tui.ui.live.app import MnistApp
from mnist_tui.ui.live.mode import AppMode
from helpers.scripted import DemoRun
from mnist_tui.ui.screens import HelpScreen, QuitScreen

from helpers.ui import SIZE, footer_actions, make_app, palette_offers, run_async, wait_for


def hold(at: int = 45, **kwargs) -> DemoRun:
    """A run that trains to ``at`` and then idles there, running, until it gets a command."""
    kwargs.setdefault("run_dir", "runs/demo")
    return DemoRun(hold_at=at, **kwargs)


# Starting and loading ------------------------------------------------------------------------------------
@run_async
async def test_first_frame_shows_loading_before_the_run_starts():
    gate = threading.Event()
    source = DemoRun(start_gate=gate)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.run_state == ev.RunState.LOADING and app.run_log.lines_added)
        assert app.body.has_class("-loading")  # the log stands where the charts will be
        assert app.run_log.display and not app.query_one("#charts").display
        assert "demo digits" in app.run_log.lines_added[0]
        assert app.status.has_class("-preparing")
        assert footer_actions(app) == {"stop", "screenshot", "help", "quit"}
        gate.set()
        await wait_for(pilot, lambda: app.run_state == ev.RunState.FINISHED)
        assert not app.body.has_class("-loading")
        assert app.query_one("#charts").display and not app.run_log.display


@run_async
async def test_starting_state_before_the_first_event():
    started = threading.Event()
    release = threading.Event()

    def slow_import(control: Control):
        started.set()
        release.wait(5)  # like importing torch: nothing to report yet
        return iter(())

    now = [100.0]
    app = make_app(slow_import, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, started.is_set)
        assert app.run_state == ev.RunState.STARTING
        assert "importing PyTorch" in str(app.status.query_one("#status-activity").render())
        assert str(app.status.query_one("#status-waited").render()) == "0:00"
        now[0] += 3
        app.training.tick_waiting()  # what its one-second timer calls: the screen visibly lives while torch loads
        assert str(app.status.query_one("#status-waited").render()) == "0:03"
        release.set()
        await wait_for(pilot, lambda: app.trainer_done)


# Running -----------------------------------------------------------------------------------------------
@run_async
async def test_running_routes_events_to_the_widgets():
    app = make_app(hold(45))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        assert app.run_state == ev.RunState.RUNNING
        assert app.status.iteration == 45 and app.status.epoch == 1 and app.status.epochs == 3
        assert len(app.loss_chart.raw) == 45 and len(app.loss_chart.smooth) == 45
        assert app.loss_chart.val.xs == [20.0, 40.0] and not app.loss_chart.test  # validation: no epoch end yet
        assert app.accuracy_chart.accuracy.xs == [20.0, 40.0] and not app.accuracy_chart.test
        accuracy = str(app.status.query_one("#status-accuracy").render())
        assert accuracy.startswith("val ") and "best val" in accuracy and "test" not in accuracy
        assert len(app.train_digits.images) == 40
        assert app.predictions.iteration == 40 and len(app.predictions.predictions) == 12
        assert app.digits_view == "predictions"  # switched on the first evaluation
        assert app.device_panel.device == "cpu"
        await wait_for(pilot, lambda: app.device_panel.stats is not None)
        rows = dict(app.device_panel.visible_rows(0))
        assert rows["threads"] == "2 of 2 CPUs"
        assert rows["load"] == "42% · proc 180%"
        assert "ETA" in rows["speed"] and "N/A" not in rows["speed"]
        assert footer_actions(app) >= {"pause", "stop", "checkpoint", "toggle_digits", "screenshot", "help", "quit"}
        assert "resume" not in footer_actions(app)
        assert app.run_active


@run_async
async def test_footer_shows_pause_or_resume():
    app = make_app(hold(30))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.pause()
        shown = [key.description for key in app.query_one(Footer).query("FooterKey")]
        assert "Pause" in shown and "Resume" not in shown
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await pilot.pause()
        shown = [key.description for key in app.query_one(Footer).query("FooterKey")]
        assert "Resume" in shown and "Pause" not in shown and "Checkpoint" in shown


@run_async
async def test_pause_and_resume_with_p_and_space():
    control = Control()
    app = make_app(hold(30), control=control)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.press("p")
        assert control.paused
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        assert footer_actions(app) >= {"resume", "stop", "checkpoint"} and "pause" not in footer_actions(app)
        await pilot.press("space")
        assert not control.paused
        await wait_for(pilot, lambda: app.run_state == ev.RunState.RUNNING)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.RUNNING)


@run_async
async def test_stop_finishes_the_run_and_keeps_the_app_open():
    source = hold(50)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 50)
        await pilot.press("s")
        assert app.control.stop_requested
        assert app.run_state in (ev.RunState.STOPPING, ev.RunState.FINISHED)
        await wait_for(pilot, lambda: app.finished is not None and app.trainer_done)
        assert app.finished.reason == ev.Reason.STOPPED
        assert app.run_state == ev.RunState.FINISHED
        assert source.events_sent[-3:] == ["evaluation", "checkpoint", "run_finished"]
        assert footer_actions(app) == {"toggle_digits", "screenshot", "help", "quit"}
        assert app.is_running  # still open to look around
        await pilot.press("s", "p", "c")  # no longer apply: nothing happens
        assert app.is_running and app.run_state == ev.RunState.FINISHED
        await pilot.press("q")  # the run is over: quits at once
        await pilot.pause()
    assert app.return_code == 0


@run_async
async def test_checkpoint_now():
    source = hold(30)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.press("c")
        await wait_for(pilot, lambda: any("saved last checkpoint" in line for line in app.run_log.lines_added))
        assert "checkpoint" in source.events_sent
        assert any("Checkpoint saved" in n.message for n in app._notifications)


@run_async
async def test_checkpoint_while_paused_is_saved_on_resume():
    source = hold(30)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await pilot.press("c")
        assert any("when the run resumes" in n.message for n in app._notifications)
        await pilot.press("p")
        await wait_for(pilot, lambda: any("saved last" in line for line in app.run_log.lines_added))


# Quitting ----------------------------------------------------------------------------------------------
@run_async
async def test_quit_asks_while_running_and_no_keeps_running():
    app = make_app(hold(30))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen)
        assert not app.control.stop_requested and app.run_state == ev.RunState.RUNNING
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen) and not app.control.stop_requested


@run_async
async def test_quit_yes_stops_cleanly_then_exits():
    source = hold(30)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("y")
        assert app.control.stop_requested and app.quitting
        await wait_for(pilot, lambda: not app.is_running)
    # The source ran to its end (evaluate, save, finish) before the app exited.
    assert source.events_sent[-1] == "run_finished"
    assert app.finished is not None and app.finished.reason == ev.Reason.STOPPED
    assert app.return_code == 0


@run_async
async def test_quit_while_paused_wakes_the_run_and_exits():
    source = hold(30)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await pilot.press("q")
        await pilot.pause()
        await pilot.click("#quit-yes")
        await wait_for(pilot, lambda: not app.is_running)
    assert source.events_sent[-1] == "run_finished"


@run_async
async def test_quit_after_the_run_finished_does_not_ask():
    app = make_app(DemoRun(epochs=1))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.FINISHED
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


@run_async
async def test_ctrl_q_goes_through_the_same_confirmation():
    app = make_app(hold(30))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")


@run_async
async def test_app_closing_any_other_way_still_stops_the_run():
    source = hold(30)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        app.exit()  # e.g. an error in the UI
        await pilot.pause()
    assert app.control.stop_requested and app.control.stop_reason == ev.Reason.INTERRUPTED


# Help, screenshot, digits, palette -------------------------------------------------------------------------
@run_async
async def test_help_opens_and_closes():
    app = make_app(hold(20))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@run_async
async def test_screenshot_goes_into_the_run_directory(tmp_path: Path):
    run_dir = tmp_path / "run"
    app = make_app(hold(20, run_dir=str(run_dir)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20)
        await pilot.press("S")
        await pilot.press("S")
        await pilot.pause()
    shots = sorted(run_dir.glob("screenshot-*.svg"))
    assert len(shots) == 2
    assert shots[0].read_text(encoding="utf-8").startswith("<svg")


@pytest.mark.parametrize("theme", ["ansi-light", "ansi-dark"])
@run_async
async def test_a_screenshot_shows_the_terminals_own_colours_light_or_dark(tmp_path: Path, theme: str):
    """Under an ANSI theme the SVG shows the terminal's colours with a light or a dark terminal's palette, as the
    theme says: a screenshot taken on a light terminal is light."""
    run_dir = tmp_path / "run"
    app = make_app(hold(20, run_dir=str(run_dir)), theme=theme)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20)
        await pilot.press("S")
        await pilot.pause()
        page = (app.ansi_theme_light if theme == "ansi-light" else app.ansi_theme_dark).background_color.hex
    svg = next(run_dir.glob("screenshot-*.svg")).read_text(encoding="utf-8")
    assert f'fill="{page}"' in svg


@run_async
async def test_screenshot_before_the_run_directory_exists_goes_to_cwd(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gate = threading.Event()
    app = make_app(DemoRun(start_gate=gate))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.run_state == ev.RunState.LOADING)
        await pilot.press("S")
        await pilot.pause()
        gate.set()
    assert len(list(tmp_path.glob("screenshot-*.svg"))) == 1


@run_async
async def test_d_switches_the_digit_panel():
    app = make_app(hold(10))  # no evaluation yet: the training digits show
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        assert app.digits_view == "train"
        assert app.train_digits.display and not app.predictions.display
        await pilot.press("d")
        assert app.digits_view == "predictions"
        await pilot.pause()
        assert app.predictions.display and not app.train_digits.display
        await pilot.press("d")
        assert app.digits_view == "train"


@run_async
async def test_wide_screens_show_both_digit_panels_and_hide_d():
    app = make_app(hold(10))
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        await pilot.pause()
        assert app.screen.has_class("-wide") and app.screen.has_class("-tall")
        assert app.train_digits.display and app.predictions.display
        assert "toggle_digits" not in footer_actions(app)
        assert app.train_digits.shown == 40


@run_async
async def test_user_choice_of_digit_panel_sticks():
    gate = threading.Event()
    source = hold(10, start_gate=gate)  # no data until the gate opens, no evaluation before iteration 20
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.run_state == ev.RunState.LOADING)
        await pilot.press("d")  # before any data: no effect
        assert app.digits_view == "train" and not app.training.user_chose_digits
        gate.set()
        await wait_for(pilot, lambda: app.iteration == 10 and app.train_digits.images)
        await pilot.press("d", "d")
        source.hold_at = 45  # on through the evaluations at 20 and 40
        await wait_for(pilot, lambda: app.iteration == 45)
        assert app.digits_view == "train"  # the evaluations did not switch it away


@run_async
async def test_command_palette_offers_the_actions_that_apply():
    app = make_app(hold(20))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Pause", "Stop the run", "Save checkpoint", "Screenshot", "Help", "Quit"):
            assert title in titles
        assert "Resume" not in titles
        assert titles.count("Quit") == 1 and titles.count("Screenshot") == 1
        helps = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert helps["Pause"] == "Pause the run after this step"  # the footer's tooltip
        assert helps["Stop the run"] == "Finish the step, evaluate, save; the app stays open"  # its own
        tooltips = {b.binding.description: b.binding.tooltip for b in app.screen.active_bindings.values()}
        assert tooltips["Stop"] == "Finish the step, evaluate, save and end the run"
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Resume" in titles and "Pause" not in titles


@run_async
async def test_command_palette_runs_an_action():
    app = make_app(hold(20))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20)
        await pilot.press("ctrl+p")
        await pilot.press(*"pause")
        await wait_for(pilot, lambda: palette_offers(app, "Pause"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)


# How runs end ------------------------------------------------------------------------------------------
@run_async
async def test_completed_run():
    app = make_app(DemoRun(epochs=1, steps_per_epoch=40))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.FINISHED
        assert app.finished.reason == ev.Reason.COMPLETED
        assert app.status.iteration == 40
        assert "FINISHED" in str(app.status.query_one("#status-state").render())
        assert not app.run_active


@run_async
async def test_early_stopped_run():
    app = make_app(DemoRun(early_stop_at=60))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.EARLY_STOPPED
        assert "EARLY-STOPPED" in str(app.status.query_one("#status-state").render())
        assert "no improvement" in app.status.message


@run_async
async def test_failed_run_shows_the_message_and_exits_with_1():
    app = make_app(DemoRun(fail_at=30))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.FAILED
        assert "loss is nan" in app.status.message
        assert app.status.query_one("#status-message").has_class("-error")
        assert app.body.has_class("-failed") and app.run_log.display
        assert "loss is nan" in app.run_log.lines_added[-1]
        assert app.status.iteration == 30  # what was reached stays on screen
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1


@run_async
async def test_exception_in_the_source_shows_failed_instead_of_crashing():
    app = make_app(DemoRun(raise_at=25))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.is_running
        assert app.run_state == ev.RunState.FAILED
        assert "RuntimeError: demo source crashed at iteration 25" in app.status.message
        assert app.status.iteration == 20  # the last step it reported


@run_async
async def test_exception_before_the_first_event():
    def broken(control: Control):
        raise ImportError("No module named 'torch'")

    app = make_app(broken)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.FAILED
        assert "ImportError: No module named 'torch'" in app.status.message
        assert app.body.has_class("-loading")  # no run ever started: the log with the error fills the body
        assert "No module named" in app.run_log.lines_added[-1]


@run_async
async def test_source_that_ends_without_a_result():
    def short(control: Control):
        yield ev.StateChanged(ev.RunState.LOADING, "loading")

    app = make_app(short)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.FAILED
        assert "without reporting a result" in app.status.message


@run_async
async def test_stop_during_loading():
    gate = threading.Event()
    source = DemoRun(start_gate=gate)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.run_state == ev.RunState.LOADING)
        await pilot.press("s")
        assert app.control.stop_requested and app.run_state in (ev.RunState.STOPPING, ev.RunState.FINISHED)
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.FINISHED and app.finished.reason == ev.Reason.STOPPED


# Viewers -------------------------------------------------------------------------------------------------
def test_run_control(tmp_path: Path):
    """The app steers a run in this process (Control) and one in another process (RemoteRun) alike."""
    import socket

    from mnist_tui.runs.client import RemoteRun

    assert isinstance(Control(), RunControl)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(tmp_path / "s"))
        listener.listen()
        remote = RemoteRun(tmp_path / "s")
        try:
            assert isinstance(remote, RunControl)
        finally:
            remote.close()


class ViewerControl(Control):
    """A viewer's control as the app sees it: closing it hangs up, and the run's event stream ends."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def stop(self, reason: str = "stopped") -> None:
        self.calls.append("stop")
        super().stop(reason)

    def close(self) -> None:
        self.calls.append("close")
        super().stop()  # the scripted source stands for the socket: it ends when the viewer hangs up


@run_async
async def test_a_viewer_steers_the_run_and_q_leaves_it_going():
    control = ViewerControl()
    app = make_app(hold(30), control=control, mode=AppMode.VIEW)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        assert app.viewer and footer_actions(app) >= {"pause", "stop", "checkpoint"}
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await pilot.press("q")  # no question: the run goes on in its own process
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0 and control.calls == ["close"]


@run_async
async def test_history_is_read_only_and_q_leaves_at_once():
    control = ViewerControl()
    app = make_app(hold(30), control=control, mode=AppMode.HISTORY)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        assert app.viewer and footer_actions(app) == {"toggle_digits", "screenshot", "help", "quit"}
        await pilot.press("p", "s", "c", "e", "l")
        assert not control.paused and not isinstance(app.screen, (QuitScreen, HelpScreen))
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0 and control.calls == ["close"]


@pytest.mark.parametrize("mode", [AppMode.TRAIN, AppMode.TRAIN_DETACHABLE])
@run_async
async def test_only_a_detachable_run_offers_to_detach(mode):
    app = make_app(hold(30), mode=mode)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        assert not app.viewer
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert bool(app.screen.query("#quit-detach")) == (mode is AppMode.TRAIN_DETACHABLE)
        await pilot.press("n")
    assert app.control.stop_requested  # the app closed: a run in this process stops


# Device statistics -------------------------------------------------------------------------------------
@run_async
async def test_stats_are_read_off_the_ui_thread_and_failures_show_na():
    threads: list[str] = []

    def failing_reader(device: str) -> DeviceStats:
        threads.append(threading.current_thread().name)
        raise OSError("no /proc here")

    app = MnistApp(hold(20), stats_reader=failing_reader, stats_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(threads) >= 3)
        await wait_for(pilot, lambda: app.device_panel.stats is not None)
        rows = dict(app.device_panel.visible_rows(0))
        assert rows["load"] == "N/A · proc N/A" and rows["RAM"].startswith("N/A")
        assert threading.main_thread().name not in threads


@run_async
async def test_cuda_panel_shows_nvml_values_and_na():
    stats = DeviceStats(
        gpu_utilization=87.0,
        temperature=64.0,
        power=None,  # not readable on this board
        power_limit=300.0,
        torch_allocated=1_200 * 2**20,
        torch_reserved=2 * 2**30,
        gpu_memory_used=3 * 2**30,
        gpu_memory_total=80 * 2**30,
        torch_threads=8,
    )
    app = make_app(hold(20, device="cuda:0", device_name="NVIDIA H100 80GB HBM3"), stats_reader=lambda d: stats)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20 and app.device_panel.stats is not None)
        rows = dict(app.device_panel.visible_rows(0))
        assert rows["GPU"] == "NVIDIA H100 80GB HBM3"
        assert rows["util"] == "87% · 64°C"
        assert rows["power"] == "N/A of 300 W"
        assert rows["memory"] == "1.17 GiB alloc · 2 GiB resv"
        assert rows["device"] == "3 GiB of 80 GiB used"
        assert rows["torch"] == "2.4.1 · CUDA 12.4"


# Redraws and sizes -------------------------------------------------------------------------------------
@run_async
async def test_charts_redraw_on_their_timer_not_for_each_event():
    app = make_app(hold(10))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 10)
        chart = app.loss_chart
        chart.redraw_if_dirty()
        before = chart.redraws
        for last in range(15, 911, 5):  # 180 events at once: no timer can fire in between
            steps = ev.StepMetrics(last, 1, last, (0.5,) * 5, lr=3e-4, images_per_second=5e3, elapsed=1.0)
            app.training.show(steps)
        assert len(chart.raw) == 910 and chart.redraws == before  # the data is in, nothing redrawn yet
        chart.redraw_if_dirty()  # what the chart's timer calls (once a second)
        chart.redraw_if_dirty()
        assert chart.redraws == before + 1  # one redraw for all of them; none while nothing new arrived


@run_async
async def test_long_runs_keep_bounded_history():
    app = make_app(DemoRun(steps_per_epoch=3000, epochs=1, chunk=100, eval_every=1000))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.loss_chart.raw.count == 3000
        assert len(app.loss_chart.raw) <= 2000
        assert app.loss_chart.raw.xs[-1] == 3000.0


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
@run_async
async def test_sizes_render_without_errors(size):
    app = make_app(hold(60))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.iteration == 60)
        app.loss_chart.redraw()
        app.accuracy_chart.redraw()
        await pilot.pause()
        svg = app.export_screenshot()
        assert "Loss" in svg and "Device" in svg
        assert app.loss_chart.size.width > 20 and app.loss_chart.size.height >= 6
        assert app.predictions.shown >= 4


@run_async
async def test_resizing_follows_the_terminal():
    app = make_app(hold(60))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.iteration == 60)
        assert app.screen.has_class("-narrow") and app.screen.has_class("-short")
        small = app.loss_chart.size
        await pilot.resize_terminal(200, 60)
        await wait_for(pilot, lambda: app.screen.has_class("-wide") and app.loss_chart.size != small)
        assert app.screen.has_class("-tall")
        assert app.loss_chart.size.width > small.width and app.loss_chart.size.height > small.height
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: app.screen.has_class("-normal"))
