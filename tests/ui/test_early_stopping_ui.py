"""Early stopping and the learning rate on screen, and steered with e and l while a scripted run goes on.

The scripted run (DemoRun) honours the control like the trainer: a new learning rate applies from the next
step, new early-stopping settings at the next evaluation, each reported with a SettingsChanged. A run that
holds at an iteration goes on when the test raises ``hold_at``. The last test drives the real trainer.
"""

from __future__ import annotations

import asyncio
import json
import queue
from pathlib import Path

import pytest
from textual.widgets import Input

from mnist_tui.config import EarlyStoppingConfig, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.control import Control
from mnist_tui.ui.live.app import MnistApp
from helpers.scripted import DemoRun
from mnist_tui.ui.screens import EarlyStoppingForm, HelpScreen, LearningRateScreen
from mnist_tui.ui.screens.help import KEYS

from helpers.ui import STATS, footer_actions, palette_offers, run_async, wait_for

SIZE = (120, 40)


class RecordingControl(Control):
    """A Control that also records the settings commands it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, object]] = []

    def set_lr(self, lr: float) -> None:
        self.calls.append(("set_lr", lr))
        super().set_lr(lr)

    def scale_lr(self, factor: float) -> None:
        self.calls.append(("scale_lr", factor))
        super().scale_lr(factor)

    def set_early_stopping(self, config: EarlyStoppingConfig) -> None:
        self.calls.append(("set_early_stopping", config))
        super().set_early_stopping(config)


def make_app(source, **kwargs) -> MnistApp:
    kwargs.setdefault("stats_reader", lambda device: STATS)
    kwargs.setdefault("control", RecordingControl())
    return MnistApp(source, **kwargs)


def hold(at: int = 45, **kwargs) -> DemoRun:
    kwargs.setdefault("run_dir", "runs/demo")
    return DemoRun(hold_at=at, **kwargs)


def shown(app: MnistApp) -> dict[str, str]:
    """The early-stopping panel's rows as they are on screen now (label -> text)."""
    panel = app.early_stopping_panel
    region = panel.content_region
    return {label: text.plain for label, text in panel.visible_rows(region.height, region.width)}


def title(app: MnistApp) -> str:
    return str(app.early_stopping_panel.border_title)


async def open_form(pilot, key: str, screen_type) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type))
    await pilot.pause()


# The panel ------------------------------------------------------------------------------------------------
@run_async
async def test_the_panel_shows_the_config_until_the_first_state_then_the_state():
    script: queue.Queue = queue.Queue()

    def source(control: Control):
        while (event := script.get()) is not None:
            yield event

    started = next(e for e in DemoRun()(Control()) if isinstance(e, ev.RunStarted))
    config = {**started.config, "early_stopping": {**started.config["early_stopping"], "patience": 7}}
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        assert "waiting" in str(app.early_stopping_panel.render())
        script.put(ev.StateChanged(ev.RunState.LOADING, "loading"))
        script.put(ev.RunStarted(**{**started.__dict__, "config": config}))
        await wait_for(pilot, lambda: app.run_started is not None)
        await pilot.pause()
        assert title(app) == "Early stopping · ON"
        rows = shown(app)
        assert rows["wait"].startswith("0/7 ") and rows["lr"] == "3e-04"
        assert rows["best"] == "acc N/A: no evaluation yet"
        assert rows["stop"] == "warm-up: 5 evals left"
        state = dict(
            iteration=300, enabled=True, monitor="accuracy", patience=10, min_delta=0.0, warmup_evals=2,
            restore_best=True, best=98.76, best_iteration=150, wait=3, evals=6, remaining=7,
        )  # fmt: skip
        script.put(ev.EarlyStoppingState(**state))
        await wait_for(pilot, lambda: shown(app)["wait"].startswith("3/10 "))
        rows = shown(app)
        assert rows["best"] == "acc 98.76% @ 150"
        assert rows["stop"] == "in 7 evals if no gain"
        assert rows["watch"] == "val acc · min Δ 0 pts"
        assert rows["restore"] == "on: keeps the best weights"
        script.put(ev.EarlyStoppingState(**{**state, "monitor": "loss", "best": 0.0421, "wait": 0, "evals": 1}))
        await wait_for(pilot, lambda: shown(app)["best"] == "loss 0.0421 @ 150")
        assert shown(app)["stop"] == "warm-up: 1 eval left"
        script.put(ev.EarlyStoppingState(**{**state, "enabled": False, "remaining": None}))
        await wait_for(pilot, lambda: title(app) == "Early stopping · OFF")
        assert shown(app)["stop"] == "off: the run will not stop early"
        assert app.early_stopping_panel.has_class("-off")
        script.put(None)
        await wait_for(pilot, lambda: app.trainer_done)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
@run_async
async def test_the_panel_fits_with_what_matters_at_each_size(size):
    app = make_app(hold(60))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.iteration == 60 and shown(app).get("best") == "acc 87.29% @ 60")
        await pilot.pause()
        rows = shown(app)
        assert {"best", "wait", "stop", "lr"} <= set(rows)  # always on screen
        assert rows["best"] == "acc 87.29% @ 60" and rows["wait"].startswith("0/20 ")
        assert rows["stop"] == "warm-up: 2 evals left"
        if size != (80, 24):
            assert {"watch", "warm-up", "restore"} <= set(rows)
        assert app.early_stopping_panel.border_subtitle == "e settings · l lr"
        assert app.device_panel.content_region.height >= 2  # the device panel keeps its name and speed rows
        svg = app.export_screenshot()
        assert "Early" in svg and "Device" in svg


@run_async
async def test_the_plateau_schedule_is_shown_when_it_acts():
    app = make_app(hold(60, plateau_at=40))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 60)
        await wait_for(pilot, lambda: shown(app)["lr"] == "9e-05")
        assert shown(app)["plateau"] == "lr cut to 9e-05 @ iter 40"
        assert any("lr cut to 9e-05 by plateau" in n.message for n in app._notifications)
        assert "learning rate set to 9e-05 by the plateau schedule at iteration 40" in app.run_log.lines_added


@run_async
async def test_an_early_stop_is_shown_with_the_weights_kept():
    tight = EarlyStoppingConfig(patience=2, min_delta=50.0, warmup_evals=0)  # nothing gains 50 points
    app = make_app(DemoRun(early_stopping=tight, run_dir="runs/demo"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.trainer_done)
        assert app.run_state == ev.RunState.EARLY_STOPPED
        assert app.finished.stopped_early_at == 60
        rows = shown(app)
        assert rows["stop"] == "stopped early at iter 60" and rows["wait"].startswith("2/2 ")
        assert rows["weights"] == "best from iteration 60"
        assert "weights: best from iteration 60" in app.status.message
        assert not app.early_stopping_panel.border_subtitle  # e and l no longer apply


# e: the early-stopping form ------------------------------------------------------------------------------
@run_async
async def test_e_changes_patience_mid_run_and_the_panel_shows_it_once_applied():
    source = hold(45)
    app = make_app(source)
    control: RecordingControl = app.control
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        assert shown(app)["wait"].startswith("0/20 ")
        await open_form(pilot, "e", EarlyStoppingForm)
        form = app.screen
        assert form.query_one("#es-patience", Input).value == "20"  # prefilled with the settings in force
        assert form.query_one("#es-min-delta", Input).value == "0.1"
        await pilot.press("5", "enter")  # the patience field has focus, its text selected
        await wait_for(pilot, lambda: not isinstance(app.screen, EarlyStoppingForm))
        await wait_for(pilot, lambda: control.calls)
        assert control.calls == [("set_early_stopping", EarlyStoppingConfig(patience=5, min_delta=0.1, warmup_evals=5))]
        assert any("applies at the next evaluation" in n.message for n in app._notifications)
        await pilot.pause()
        assert shown(app)["pending"] == "patience 5 at next eval"
        assert shown(app)["wait"].startswith("0/20 ")  # not applied before the next evaluation

        source.hold_at = 60  # the run goes on to its next evaluation, at iteration 60
        await wait_for(pilot, lambda: shown(app)["wait"].startswith("0/5 "))
        assert "pending" not in shown(app)
        assert shown(app)["stop"] == "warm-up: 2 evals left"
        assert "early stopping: patience 5, applied at iteration 60" in app.run_log.lines_added
        assert source.events_sent.count("settings") == 1


@run_async
async def test_bad_values_are_refused_with_the_reason_and_nothing_is_sent():
    app = make_app(hold(45))
    control: RecordingControl = app.control
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        await open_form(pilot, "e", EarlyStoppingForm)
        form: EarlyStoppingForm = app.screen
        error = lambda: str(form.query_one("#es-form-error").render())  # noqa: E731

        await pilot.press("0", "enter")
        await pilot.pause()
        assert error() == "patience must be a whole number of 1 or more, got 0"
        assert form.query_one("#es-patience").has_class("-invalid")

        await pilot.press("ctrl+u", *"ten", "enter")
        await pilot.pause()
        assert error() == "patience must be a whole number, got 'ten'"

        await pilot.press("ctrl+u", "5", "tab", "minus", "1", "enter")  # tab: to min Δ, its text selected
        await pilot.pause()
        assert error() == "min-delta must be 0 or more, got -1.0"
        assert form.query_one("#es-min-delta").has_class("-invalid") and app.focused.id == "es-min-delta"
        assert not form.query_one("#es-patience").has_class("-invalid")

        await pilot.press("ctrl+u", *"abc", "enter")
        await pilot.pause()
        assert error() == "min-delta must be a number, got 'abc'"

        await pilot.press("ctrl+u", "0", "tab", "minus", "2", "enter")
        await pilot.pause()
        assert error() == "warmup-evals must be 0 or more and at most 1,000,000,000,000, got -2"  # the config's own words

        assert isinstance(app.screen, EarlyStoppingForm) and control.calls == []  # refused: still open
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EarlyStoppingForm)
        assert control.calls == [] and not control.has_changes

        await open_form(pilot, "e", EarlyStoppingForm)  # the settings as they are: nothing to send
        assert app.screen.query_one("#es-patience", Input).value == "20"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, EarlyStoppingForm))
        assert control.calls == [] and any(n.message == "Nothing changed" for n in app._notifications)


@run_async
async def test_early_stopping_turned_off_and_on_again():
    source = hold(45)
    app = make_app(source)
    control: RecordingControl = app.control
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        await open_form(pilot, "e", EarlyStoppingForm)
        await pilot.press("shift+tab", "shift+tab")  # patience -> monitor -> enabled
        assert app.focused.id == "es-enabled"
        await pilot.press("space")
        await pilot.click("#es-form-ok")
        await wait_for(pilot, lambda: len(control.calls) == 1)
        assert control.calls[-1][1].enabled is False
        source.hold_at = 60
        await wait_for(pilot, lambda: title(app) == "Early stopping · OFF")
        assert shown(app)["stop"] == "off: the run will not stop early"

        await open_form(pilot, "e", EarlyStoppingForm)
        await pilot.press("shift+tab", "shift+tab", "space", "tab", "tab", "enter")  # on again, enter in patience
        await wait_for(pilot, lambda: len(control.calls) == 2)
        assert control.calls[-1][1] == EarlyStoppingConfig(min_delta=0.1, warmup_evals=5)
        source.hold_at = 100  # two evaluations on: the warm-up of 5 is over by then
        await wait_for(pilot, lambda: app.iteration == 100 and title(app) == "Early stopping · ON")
        await wait_for(pilot, lambda: shown(app)["stop"] == "in 20 evals if no gain")


@run_async
async def test_a_form_sent_after_the_run_ended_changes_nothing():
    app = make_app(hold(45))
    control: RecordingControl = app.control
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        await open_form(pilot, "e", EarlyStoppingForm)
        control.stop()  # the run ends while the form is open
        await wait_for(pilot, lambda: app.trainer_done)
        await pilot.press("5", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, EarlyStoppingForm))
        assert control.calls == []
        assert any("no longer going" in n.message for n in app._notifications)


# l: the learning rate -------------------------------------------------------------------------------------
@run_async
async def test_l_sets_a_new_learning_rate_from_the_next_step():
    source = hold(45)
    app = make_app(source)
    control: RecordingControl = app.control
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        await pilot.press("p")  # paused: the change waits for the next step
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await open_form(pilot, "l", LearningRateScreen)
        assert app.screen.query_one("#lr-value", Input).value == "3e-04"
        await pilot.press(*"1e", "minus", "3", "enter")
        await wait_for(pilot, lambda: control.calls)
        assert control.calls == [("set_lr", 1e-3)]
        assert any("applies from the next step" in n.message for n in app._notifications)
        await pilot.pause()
        assert shown(app)["lr"] == "3e-04" and shown(app)["pending"] == "lr 1e-03 from next step"

        await pilot.press("p")  # resumed: the next step uses it
        await wait_for(pilot, lambda: shown(app)["lr"] == "1e-03")
        assert "pending" not in shown(app)
        assert "learning rate set to 1e-03 by you at iteration 45" in app.run_log.lines_added
        source.hold_at = 50
        await wait_for(pilot, lambda: app.iteration == 50)
        assert shown(app)["lr"] == "1e-03"  # the steps report it too


@run_async
async def test_l_then_down_or_up_scales_the_learning_rate():
    app = make_app(hold(45))
    control: RecordingControl = app.control
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        await open_form(pilot, "l", LearningRateScreen)
        await pilot.press("down")  # x0.1
        await wait_for(pilot, lambda: shown(app)["lr"] == "3e-05")
        assert control.calls == [("scale_lr", 0.1)]
        await open_form(pilot, "l", LearningRateScreen)
        await pilot.click("#lr-up")  # x10
        await wait_for(pilot, lambda: shown(app)["lr"] == "3e-04")
        assert control.calls[-1] == ("scale_lr", 10.0)


@run_async
async def test_a_bad_learning_rate_is_refused_with_the_reason():
    app = make_app(hold(45))
    control: RecordingControl = app.control
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 45)
        await open_form(pilot, "l", LearningRateScreen)
        screen: LearningRateScreen = app.screen
        for keys, reason in (
            (["0"], "the learning rate must be greater than 0, got 0"),
            (["minus", "1"], "the learning rate must be greater than 0, got -1"),
            (list("fast"), "the learning rate must be a number such as 1e-3, got 'fast'"),
        ):
            await pilot.press("ctrl+u", *keys, "enter")
            await pilot.pause()
            assert str(screen.query_one("#lr-error").render()) == reason
            assert isinstance(app.screen, LearningRateScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LearningRateScreen) and control.calls == []


# Keys, footer, palette, help ------------------------------------------------------------------------------
@run_async
async def test_e_and_l_apply_only_while_the_run_is_active():
    source = hold(30)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        assert {"early_stopping", "learning_rate"} <= footer_actions(app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Early stopping settings" in titles and "Learning rate" in titles
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        assert {"early_stopping", "learning_rate"} <= footer_actions(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: app.trainer_done)
        await pilot.pause()
        assert not {"early_stopping", "learning_rate"} & footer_actions(app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Early stopping settings" not in titles and "Learning rate" not in titles
        await pilot.press("e", "l")
        await pilot.pause()
        assert not isinstance(app.screen, (EarlyStoppingForm, LearningRateScreen))


@run_async
async def test_the_palette_opens_the_form_and_help_lists_the_keys():
    app = make_app(hold(20))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 20)
        await pilot.press("ctrl+p")
        await pilot.press(*"early")
        await wait_for(pilot, lambda: palette_offers(app, "Early stopping settings"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EarlyStoppingForm))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
    assert {"e", "l"} <= {key for key, _ in KEYS}


# The real trainer ------------------------------------------------------------------------------------------
def test_the_real_trainer_takes_a_new_patience_from_the_form_and_records_it(synthetic_dir: Path, tmp_path: Path):
    import torch

    run_dir = tmp_path / "run"
    es = EarlyStoppingConfig(patience=50, warmup_evals=0)
    # One torch thread: on a small shared machine, torch's spinning threads and the UI thread starve each other.
    cfg = TrainConfig(
        dataset=str(synthetic_dir), epochs=50, max_steps=600, eval_every=6, batch_size=50, run_dir=str(run_dir),
        device="cpu", early_stopping=es, threads=1,
    )  # fmt: skip
    threads = torch.get_num_threads()

    def source(control: Control):
        from mnist_tui.runs.start import make_trainer

        return make_trainer(cfg, control).run()

    app = make_app(source)

    async def drive() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.run_state == ev.RunState.RUNNING, 60, explain=lambda: app.status.message)
            await pilot.press("p")  # pause, so the change surely comes mid-run
            await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED, timeout=60)
            await open_form(pilot, "e", EarlyStoppingForm)
            await pilot.press("1", "tab", *"50", "enter")  # patience 1, min Δ 50 points: stops at the next eval
            await wait_for(pilot, lambda: not isinstance(app.screen, EarlyStoppingForm))
            await pilot.press("p")
            await wait_for(pilot, lambda: app.trainer_done, timeout=60)
            assert app.finished.reason == ev.Reason.EARLY_STOP, app.status.message
            assert shown(app)["stop"] == f"stopped early at iter {app.finished.iteration:,}"
            assert shown(app)["wait"].startswith("1/1 ")

    try:
        asyncio.run(asyncio.wait_for(drive(), 120))
    finally:
        torch.set_num_threads(threads)  # the config's threads apply to the whole process
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    settings = [line for line in lines if line["event"] == "settings"]
    assert len(settings) == 1 and settings[0]["source"] == "user"
    assert settings[0]["changes"]["early_stopping"] == {**es.__dict__, "patience": 1, "min_delta": 50.0}
    assert lines[-1]["event"] == "run_finished" and lines[-1]["stopped_early_at"] >= settings[0]["iteration"]
