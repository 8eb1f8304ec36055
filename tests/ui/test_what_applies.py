"""Screens say what applies to the run in front of them: a run without a validation set decides nothing, an
ended run's device panel says what it ran on and that it ended, and a digit is labelled by its set."""

from __future__ import annotations

from textual.app import App, ComposeResult

from mnist_tui.engine.events import EarlyStoppingState, Misclassified
from mnist_tui.ui.widgets.device_panel import DevicePanel
from mnist_tui.ui.widgets.early_stopping import EarlyStoppingPanel
from mnist_tui.ui.widgets.error_detail import ErrorDetail
from mnist_tui.ui.widgets.loss_chart import LossChart

from helpers.ui import STATS, run_async

ES = {"enabled": False, "monitor": "accuracy", "patience": 20, "min_delta": 0.0, "warmup_evals": 12,
      "restore_best": False}


def state(evals: int) -> EarlyStoppingState:
    return EarlyStoppingState(
        iteration=20 * evals, enabled=False, monitor="accuracy", patience=20, min_delta=0.0, warmup_evals=12,
        restore_best=False, best=None, best_iteration=None, wait=0, evals=evals, remaining=None,
    )


class Panels(App):
    def compose(self) -> ComposeResult:
        yield EarlyStoppingPanel()
        yield DevicePanel()
        yield ErrorDetail()
        yield LossChart()


def text(rows) -> str:
    return "\n".join(f"{label} {value.plain if hasattr(value, 'plain') else value}" for label, value in rows)


@run_async
async def test_a_run_without_a_validation_set_shows_that_nothing_is_decided():
    app = Panels()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(EarlyStoppingPanel)
        panel.set_run_config({"val_split": 0, "lr": 0.03, "schedule": "onecycle", "early_stopping": ES})
        for evals in (1, 2, 3):
            panel.set_state(state(evals))
        await pilot.pause()
        shown = text(panel.visible_rows(10, 36))
        assert "no validation set" in shown
        assert "best" not in shown and "wait" not in shown and "N/A" not in shown, shown
        assert panel.border_title == "Early stopping · OFF"

        chart = app.query_one(LossChart)
        chart.set_validation(False)
        assert "val" not in chart._subtitle() and "test" in chart._subtitle()
        chart.add_eval_loss("test", 20, 0.4)
        assert "◆ test 0.400" in chart._subtitle() and "val" not in chart._subtitle()


@run_async
async def test_a_run_with_a_validation_set_still_shows_its_best_and_wait():
    app = Panels()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(EarlyStoppingPanel)
        panel.set_run_config({"val_split": 5000, "lr": 3e-4, "early_stopping": ES})
        panel.set_state(state(1))
        await pilot.pause()
        shown = text(panel.visible_rows(10, 36))
        assert "best" in shown and "wait 0/20" in shown
        chart = app.query_one(LossChart)
        assert "• val" in chart._subtitle()


@run_async
async def test_an_ended_run_shows_its_device_and_that_it_ended():
    app = Panels()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(DevicePanel)
        panel.set_device("cpu", "AMD EPYC", "2.14.1", None)
        panel.set_stats(STATS)
        panel.set_throughput(1500.0, 100, 256)
        panel.set_throughput(None, 0, 256)  # what the screen sends at the end
        panel.set_ended("completed")
        await pilot.pause()
        shown = text(panel.visible_rows(10))
        assert "AMD EPYC" in shown and "completed: not live" in shown and "1,500 img/s" in shown
        assert "N/A" not in shown.replace("CUDA N/A", ""), shown
        assert panel.border_title.endswith("ended")


@run_async
async def test_a_digit_is_labelled_by_its_set():
    app = Panels()
    async with app.run_test(size=(120, 40)) as pilot:
        detail = app.query_one(ErrorDetail)
        entry = Misclassified(31134, 3, 5, 2.0, tuple([0.1] * 10), bytes(784))
        detail.set_entry(entry, split="validation")
        await pilot.pause()
        rendered = detail.render().plain
        assert "test image" not in rendered and "validation digit · training image 31,134" in rendered
        detail.set_entry(entry, split="test")
        assert "test image 31,134" in detail.render().plain
