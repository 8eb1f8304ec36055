"""The error browser over fixture snapshots built by hand: sorting, filters, the confusion matrix, empty cases,
and inside the live app: m once an evaluation has come, a newer one offered while training goes on."""

from __future__ import annotations

import math
import random
import threading
from pathlib import Path

from mnist_tui.engine import events as ev
from mnist_tui.runs.devstats import DeviceStats
from mnist_tui.ui.live.app import MnistApp
from helpers.scripted import DemoRun, demo_digit
from mnist_tui.ui.apps.inspect_app import InspectApp
from mnist_tui.ui.screens.errors import ErrorsScreen
from mnist_tui.ui.screens.help import KEYS
from helpers.ui import footer_actions, run_async, wait_for

NAMES = tuple(str(i) for i in range(10))
SIZE = (100, 30)
# (test index, true, predicted, loss), deliberately not in loss order. No errors on 0, 1, 2 or 8.
ERRORS = [(11, 4, 9, 1.2), (12, 4, 9, 3.5), (13, 7, 1, 2.0), (14, 3, 5, 0.9), (15, 4, 6, 2.7), (16, 9, 4, 1.5)]
BY_LOSS = [12, 15, 13, 16, 11, 14]


def entry(index: int, true: int, predicted: int, loss: float) -> ev.Misclassified:
    p_true = math.exp(-loss)
    probs = [0.0] * 10
    probs[true] = p_true
    probs[predicted] = 0.9 * (1 - p_true)
    for c in range(10):
        if c not in (true, predicted):
            probs[c] = 0.1 * (1 - p_true) / 8
    image = demo_digit(true, random.Random(index))
    return ev.Misclassified(index, true, predicted, loss, tuple(round(p, 4) for p in probs), image)


def snapshot(errors=ERRORS, iteration: int = 100, per_class: int = 50, weights: str = "") -> ev.EvaluationSnapshot:
    entries = [entry(*e) for e in errors]
    confusion = [[per_class if t == p else 0 for p in range(10)] for t in range(10)]
    for m in entries:
        confusion[m.true][m.true] -= 1
        confusion[m.true][m.predicted] += 1
    return ev.EvaluationSnapshot(
        iteration=iteration,
        epoch=1,
        class_names=NAMES,
        confusion=tuple(map(tuple, confusion)),
        misclassified=tuple(entries),
        n_misclassified=len(entries),
        loss=0.05,
        weights=weights,
    )


def text(widget) -> str:
    return str(widget.render())


def shown(screen: ErrorsScreen) -> list[int]:
    return [m.index for m in screen.shown]


# The browser on its own (as mnist-tui inspect opens it) ------------------------------------------------
@run_async
async def test_the_list_is_worst_loss_first_and_the_keys_move_through_it():
    app = InspectApp(snapshot(), run_dir=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ErrorsScreen)
        assert shown(screen) == BY_LOSS
        assert "iteration 100" in text(screen.title_label) and "6 of 500 wrong" in text(screen.title_label)
        assert "showing 6 of 6" in text(screen.filter_label)
        detail = screen.detail
        assert detail.entry.index == 12 and detail.border_subtitle == "1 of 6"
        rendered = text(detail)
        assert "true 4" in rendered and "predicted 9" in rendered and "confidence" in rendered
        assert rendered.count("%") >= 11  # the confidence and ten probability bars
        await pilot.press("j")
        await pilot.press("down")
        await pilot.pause()
        assert detail.entry.index == 13 and detail.border_subtitle == "3 of 6"
        await pilot.press("k")
        await pilot.pause()
        assert detail.entry.index == 15
        assert footer_actions(app) >= {"close", "cycle", "switch_view"}
        assert not footer_actions(app) & {"refresh_snapshot", "write_csvs", "clear_filters"}
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 0


@run_async
async def test_filters_by_true_and_predicted_label_with_counts():
    app = InspectApp(snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        for _ in range(5):  # any -> 0 -> 1 -> 2 -> 3 -> 4
            await pilot.press("t")
        await pilot.pause()
        assert screen.filter_true == 4 and shown(screen) == [12, 15, 11]
        assert "true 4 · predicted any · showing 3 of 6" in text(screen.filter_label)
        for _ in range(10):  # any -> 0 .. 9
            await pilot.press("p")
        await pilot.pause()
        assert screen.filter_predicted == 9 and shown(screen) == [12, 11]
        assert "showing 2 of 6" in text(screen.filter_label)
        assert "clear_filters" in footer_actions(app)
        await pilot.press("P", "P", "P")  # 9 -> 8 -> 7 -> 6
        await pilot.pause()
        assert screen.filter_predicted == 6 and shown(screen) == [15]
        await pilot.press("x")
        await pilot.pause()
        assert (screen.filter_true, screen.filter_predicted) == (None, None) and shown(screen) == BY_LOSS
        await pilot.press("T")  # any -> 9 backwards
        await pilot.pause()
        assert screen.filter_true == 9 and shown(screen) == [16]


@run_async
async def test_the_shown_digit_stays_when_a_filter_still_holds_it():
    app = InspectApp(snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("j")  # 15 (4 -> 6)
        await pilot.pause()
        assert screen.detail.entry.index == 15
        screen.set_filters(4, None)
        await pilot.pause()
        assert screen.detail.entry.index == 15 and screen.detail.border_subtitle == "2 of 3"


@run_async
async def test_choosing_a_matrix_cell_filters_the_list():
    app = InspectApp(snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        matrix = screen.matrix
        assert not matrix.display or not matrix.region  # narrow: the digits first
        await pilot.press("v")
        await pilot.pause()
        assert screen.view == "matrix" and app.focused is matrix and matrix.region
        assert matrix.cursor == (4, 9)  # the most frequent mistake
        assert "true 4 → predicted 9: 2 wrong" in matrix.border_subtitle
        figures = text(screen.class_accuracy)
        assert " 4   94.00%      3" in figures and " 0  100.00%      0" in figures  # 47/50 right; no errors
        assert figures.split("most confused")[1].split()[:4] == ["4", "→", "9", "2"]
        await pilot.press("enter")
        await pilot.pause()
        assert screen.view == "digits" and app.focused is screen.error_list
        assert (screen.filter_true, screen.filter_predicted) == (4, 9) and shown(screen) == [12, 11]
        # Another cell: 7 -> 1 by the arrow keys.
        await pilot.press("v", "down", "down", "down", "left", "left", "left", "left", "left", "left", "left", "left")
        await pilot.pause()
        assert matrix.cursor == (7, 1)
        await pilot.press("enter")
        await pilot.pause()
        assert shown(screen) == [13]
        # A diagonal cell (right answers) shows every mistake on that true label.
        await pilot.press("v", "up", "up", "up", "right", "right", "right")
        await pilot.pause()
        assert matrix.cursor == (4, 4)
        await pilot.press("enter")
        await pilot.pause()
        assert (screen.filter_true, screen.filter_predicted) == (4, None) and shown(screen) == [12, 15, 11]
        # A click on a cell chooses it: row 9 (true 9), column 4 (predicted 4).
        await pilot.press("v")
        await pilot.pause()
        await pilot.click(matrix, offset=(1 + 3 + 4 * 5 + 2, 1 + 1 + 9))
        await pilot.pause()
        assert (screen.filter_true, screen.filter_predicted) == (9, 4) and shown(screen) == [16]


@run_async
async def test_a_cell_without_mistakes_and_a_class_without_errors_show_an_empty_list():
    app = InspectApp(snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("t")  # true 0: no errors
        await pilot.pause()
        assert screen.filter_true == 0 and shown(screen) == [] and screen.error_list.option_count == 0
        assert screen.detail.entry is None
        assert "No misclassified digits with true 0" in text(screen.detail)
        assert "showing 0 of 6" in text(screen.filter_label)
        screen.matrix.cursor = (2, 5)  # a cell with a count of 0
        screen.matrix.action_choose()
        await pilot.pause()
        assert (screen.filter_true, screen.filter_predicted) == (2, 5) and shown(screen) == []
        assert "true 2 and predicted 5" in text(screen.detail)


@run_async
async def test_a_perfect_model_has_nothing_to_browse():
    app = InspectApp(snapshot(errors=[]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert shown(screen) == [] and screen.detail.entry is None
        assert "all 500 test digits are right at iteration 100" in text(screen.detail)
        assert "100.00% right, 0 of 500 wrong" in text(screen.title_label)
        await pilot.press("v")
        await pilot.pause()
        assert screen.matrix.cursor == (0, 0)
        assert "none: no mistakes" in text(screen.class_accuracy)
        await pilot.press("t", "p")  # filters on nothing stay harmless
        await pilot.pause()
        assert shown(screen) == []


@run_async
async def test_wide_screens_show_the_digits_and_the_matrix_together():
    app = InspectApp(snapshot())
    async with app.run_test(size=(180, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.has_class("-wide")
        assert screen.error_list.region and screen.detail.region and screen.matrix.region
        assert screen.class_accuracy.region
        assert "switch_view" not in footer_actions(app)


@run_async
async def test_w_writes_the_csvs_into_the_run_directory(tmp_path: Path):
    app = InspectApp(snapshot(), run_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "write_csvs" in footer_actions(app)
        await pilot.press("w")
        await pilot.pause()
        assert (tmp_path / "misclassified.csv").read_text().splitlines()[1].startswith("12,4,9,")
        assert (tmp_path / "confusion.csv").exists()
        assert any("misclassified.csv" in n.message for n in app._notifications)


# Inside the live app -------------------------------------------------------------------------------------
def with_snapshots(source: DemoRun, gates: list[threading.Event]):
    """The demo run, with a fixture snapshot after each evaluation; after the n-th it waits for gates[n]."""

    def run(control):
        n = 0
        for event in source(control):
            yield event
            if isinstance(event, ev.Evaluation):
                errors = ERRORS if n == 0 else ERRORS[:3]  # later evaluations get fewer wrong
                yield snapshot(errors, iteration=event.iteration)
                if n < len(gates):
                    while not gates[n].wait(0.01):
                        if control.stop_requested:
                            break
                n += 1

    return run


@run_async
async def test_m_opens_the_latest_evaluation_and_offers_a_newer_one_while_training_goes_on():
    start, gates = threading.Event(), [threading.Event(), threading.Event()]
    source = with_snapshots(DemoRun(eval_every=20, steps_per_epoch=60, epochs=1, start_gate=start), gates)
    app = MnistApp(source, stats_reader=lambda device: DeviceStats())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "errors" not in footer_actions(app)  # nothing to browse before the first evaluation
        await pilot.press("m")
        assert not isinstance(app.screen, ErrorsScreen)
        start.set()
        await wait_for(pilot, lambda: app.error_snapshot is not None)
        assert "errors" in footer_actions(app)
        assert "Browse errors" in [c.title for c in app.get_system_commands(app.screen)]
        assert any(key == "m" for key, _ in KEYS)
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ErrorsScreen) and screen.snapshot.iteration == 20
        assert "training goes on" in text(screen.newer_label)
        await pilot.press("t", "t", "t", "t", "t")  # true 4
        await pilot.pause()
        assert shown(screen) == [12, 15, 11]

        gates[0].set()  # training goes on: the next evaluation arrives while the browser is open
        await wait_for(pilot, lambda: screen.newer is not None)
        assert screen.snapshot.iteration == 20  # it does not jump under the user
        assert "newer: iteration 40 · r refreshes" in text(screen.newer_label)
        assert "refresh_snapshot" in footer_actions(app)
        await pilot.press("r")
        await pilot.pause()
        assert screen.snapshot.iteration == 40 and screen.newer is None
        assert screen.filter_true == 4 and shown(screen) == [12, 11]  # the filter holds
        assert "iteration 40" in text(screen.title_label)
        assert "refresh_snapshot" not in footer_actions(app)

        await pilot.press("escape")  # back to the run, which is still going
        await pilot.pause()
        assert not isinstance(app.screen, ErrorsScreen) and app.run_state == ev.RunState.RUNNING
        gates[1].set()
        await wait_for(pilot, lambda: app.finished is not None)
        assert app.error_snapshot.iteration == 60
        await pilot.press("m")
        await pilot.pause()
        assert app.screen.snapshot.iteration == 60 and "training goes on" not in text(app.screen.newer_label)


@run_async
async def test_o_switches_between_the_test_and_the_validation_mistakes(tmp_path):
    import dataclasses

    test_set = snapshot()
    validation = dataclasses.replace(snapshot(errors=ERRORS[:2], iteration=120), split=ev.VALIDATION)
    app = InspectApp(test_set, run_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert text(screen.title_label).startswith("Test errors") and "other_set" not in footer_actions(app)
        screen.offer(validation)  # a newer evaluation of the other set: offered, not shown
        await pilot.pause()
        assert screen.snapshot is test_set and "other_set" in footer_actions(app)
        assert "write_csvs" in footer_actions(app)
        await pilot.press("o")
        await pilot.pause()
        assert screen.snapshot is validation and text(screen.title_label).startswith("Validation errors")
        assert shown(screen) == [12, 11] and "write_csvs" not in footer_actions(app)  # the run's CSVs are of test
        await pilot.press("o")
        await pilot.pause()
        assert screen.snapshot is test_set and shown(screen) == BY_LOSS
