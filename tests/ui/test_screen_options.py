"""Looking closer and fitting the user's terminal: maximizing a panel, the charts' views, themes, the keymap
file, and what the app tells a user who looks elsewhere (the bell, toasts, the terminal's title)."""

from __future__ import annotations

import re

from helpers.scripted import DemoRun
from helpers.ui import SIZE, make_app, run_async, wait_for
from rich.color import ColorType
from rich.text import Text

from mnist_tui.engine import events as ev
from mnist_tui.ui.live.alerts import window_title
from mnist_tui.ui.live.keymap import keymap_path, load_keymap, parse_keymap
from mnist_tui.ui.live.mode import AppMode
from mnist_tui.ui.common.theme import terminal_theme


def hold(at: int = 100, **kwargs) -> DemoRun:
    kwargs.setdefault("run_dir", "runs/demo")
    return DemoRun(hold_at=at, **kwargs)


def finished(reason: str, message: str, iteration: int = 10) -> ev.RunFinished:
    return ev.RunFinished(
        reason=reason, message=message, iteration=iteration, epoch=1, final_accuracy=None, best_accuracy=None,
        best_iteration=None, elapsed=1.0, device="cpu",
    )  # fmt: skip


def ends_with(event: ev.RunFinished):
    """An event source whose run ends at once with ``event``."""
    return lambda control: iter([ev.StateChanged(ev.RunState.RUNNING, "training"), event])


def counting_bell(app) -> list[int]:
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # App.bell writes BEL to the terminal; a test has none, so count the calls
    return rings


def plot_text(chart) -> str:
    return chart.render().plain


def y_ticks(chart) -> list[float]:
    """The numbers on the y axis of the chart as drawn (the labels left of the ┤ ticks)."""
    return [float(m) for m in re.findall(r"^\s*([0-9.]+)┤", plot_text(chart), flags=re.MULTILINE)]


def x_ticks(chart) -> list[float]:
    """The numbers under the x axis as drawn (the line above the axis's name)."""
    lines = plot_text(chart).splitlines()
    row = next(i for i, line in enumerate(lines) if "iteration" in line) - 1
    return [float(n.replace(",", "")) for n in re.findall(r"[0-9][0-9,]*", lines[row])]


def plot_colours(chart) -> set:
    """Every foreground colour in the chart as drawn."""
    text: Text = chart.render()
    return {span.style.color for span in text.spans if not isinstance(span.style, str) and span.style.color}


# Maximize --------------------------------------------------------------------------------------------------------
@run_async
async def test_z_enlarges_the_focused_panel_and_puts_it_back():
    app = make_app(hold())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 100)
        assert app.screen.focused is None  # nothing is highlighted until the user moves there
        await pilot.press("z")  # no panel focused: the loss chart
        assert app.screen.maximized is app.loss_chart
        await pilot.pause()
        assert app.loss_chart.outer_size.width == SIZE[0] and app.accuracy_chart.region.area == 0
        assert app.status.region.area > 0  # the run's state stays in view
        await pilot.press("z")
        assert app.screen.maximized is None
        await pilot.press("tab")  # the focus moves on from the loss chart to the accuracy chart
        assert app.screen.focused is app.accuracy_chart
        await pilot.press("z")
        assert app.screen.maximized is app.accuracy_chart
        await pilot.press("escape")  # Textual's way back from a maximized widget works too
        assert app.screen.maximized is None
        await pilot.press("tab", "tab", "tab", "z")  # the panels beyond the charts can be enlarged as well
        assert app.screen.maximized is app.screen.focused and app.screen.focused not in (
            app.loss_chart, app.accuracy_chart
        )
        await pilot.press("z")
        await pilot.pause()
        assert app.loss_chart.region.area > 0 and app.accuracy_chart.region.area > 0
        app.control.stop()
        await wait_for(pilot, lambda: app.trainer_done)


# The charts' views ---------------------------------------------------------------------------------------------
@run_async
async def test_loss_chart_log_linear_and_last_iterations_stay_through_redraws():
    app = make_app(hold(100))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 100)
        chart = app.loss_chart
        chart.WINDOW = 40  # a short run: the last 40 of its 100 iterations
        chart.redraw()
        assert chart.border_title == "Loss (log scale)"
        assert 0.0 not in y_ticks(chart)  # a log axis has no 0
        assert min(x_ticks(chart)) == 0

        await pilot.press("y")
        assert not chart.log_scale and chart.border_title == "Loss (linear)"
        assert 0.0 in y_ticks(chart)  # drawn at once, from 0 up
        await pilot.press("n")
        assert chart.border_title == "Loss (linear, last 40 iterations)"
        assert min(x_ticks(chart)) >= 60 and max(x_ticks(chart)) <= 100

        redraws = chart.redraws
        app.control.stop()  # the run goes on to its end: new points, and the chart redraws on its own timer
        await wait_for(pilot, lambda: app.trainer_done and chart.redraws > redraws)
        chart.redraw()
        assert chart.border_title == "Loss (linear, last 40 iterations)"
        assert 0.0 in y_ticks(chart) and min(x_ticks(chart)) >= chart.raw.last[0] - 40

        await pilot.press("y", "n")  # and back
        assert chart.log_scale and chart.window is None and chart.border_title == "Loss (log scale)"
        assert 0.0 not in y_ticks(chart) and min(x_ticks(chart)) == 0


@run_async
async def test_accuracy_chart_zooms_to_the_top_of_its_range_and_stays_zoomed():
    app = make_app(hold(120))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 120)
        chart = app.accuracy_chart
        chart.redraw()
        top = max(chart.accuracy.ys + chart.test.ys)
        whole = y_ticks(chart)
        assert min(whole) < top - 1.0  # the usual view reaches well below the top point
        await pilot.press("a")
        assert chart.border_title == "Accuracy (top 1 point)"
        zoomed = y_ticks(chart)
        assert len(zoomed) >= 2 and min(zoomed) >= top - 1.0 - 1e-9 and max(zoomed) <= top + 0.1 + 1e-9
        app.control.stop()
        await wait_for(pilot, lambda: app.trainer_done)
        chart.redraw()  # new evaluations arrived; the view is still the zoomed one
        top = max(chart.accuracy.ys + chart.test.ys)
        assert chart.zoomed and min(y_ticks(chart)) >= top - 1.0 - 1e-9
        await pilot.press("a")
        assert chart.border_title == "Accuracy" and min(y_ticks(chart)) < top - 1.0


# Themes ----------------------------------------------------------------------------------------------------------
@run_async
async def test_a_theme_change_recolours_the_charts():
    app = make_app(hold(100), theme="textual-dark")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 100)
        chart = app.loss_chart
        chart.redraw()
        before = plot_colours(chart)
        smooth = chart.colour("loss-chart--smooth")
        assert isinstance(smooth, tuple) and any(c.get_truecolor() == smooth for c in before)

        app.theme = "nord"
        await pilot.pause()
        await pilot.pause()
        after = plot_colours(chart)
        nord_smooth = chart.colour("loss-chart--smooth")
        assert nord_smooth != smooth and any(c.get_truecolor() == nord_smooth for c in after)
        assert not any(c.get_truecolor() == smooth for c in after)
        r, g, b = nord_smooth
        assert chart.swatch("loss-chart--smooth", "x").startswith(f"[#{r:02x}{g:02x}{b:02x}]")

        app.theme = "ansi-dark"  # the terminal's own colours: the lines take its palette by number
        await pilot.pause()
        await pilot.pause()
        ansi = plot_colours(chart)
        assert chart.colour("loss-chart--smooth") == 4  # the theme's primary, ansi_blue
        assert ansi and all(c.type in (ColorType.STANDARD, ColorType.DEFAULT) for c in ansi)
        assert chart.theme == "textual-clear"  # canvas and ticks are the terminal's, not a painted background
        assert len({chart.colour(c) for c in ("loss-chart--raw", "loss-chart--smooth", "loss-chart--val")}) == 3
        app.control.stop()
        await wait_for(pilot, lambda: app.trainer_done)


@run_async
async def test_the_palette_keeps_the_theme_command():
    app = make_app(hold(30))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 30)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Theme" in titles and "Enlarge a panel, or back" in titles and "Loss chart: log / linear scale" in titles
        assert "Maximize" not in titles  # ours enlarges a panel even when none has the focus
        app.control.stop()
        await wait_for(pilot, lambda: app.trainer_done)


def test_the_default_theme_follows_the_terminal():
    assert terminal_theme({}) == "ansi-dark"
    assert terminal_theme({"COLORFGBG": "0;15"}) == "ansi-light"  # dark text on bright white
    assert terminal_theme({"COLORFGBG": "15;default;0"}) == "ansi-dark"


def test_every_standalone_app_starts_in_the_terminals_colours(monkeypatch, tmp_path):
    """The runs list, compare, a sweep's screen, inspect and draw, as the live app: the terminal's own colours
    (the runs list was Textual's dark theme on a light terminal, and so was a comparison opened from it)."""
    import importlib
    import pkgutil

    from textual.app import App

    import mnist_tui.ui.apps as apps
    from mnist_tui.ui.apps.base import StandaloneApp
    from mnist_tui.ui.apps.compare_app import CompareApp
    from mnist_tui.ui.apps.runs_app import RunsApp

    classes = [
        value
        for info in pkgutil.iter_modules(apps.__path__)
        for value in vars(importlib.import_module(f"{apps.__name__}.{info.name}")).values()
        if isinstance(value, type) and issubclass(value, App) and value.__module__.startswith(apps.__name__)
    ]
    assert {c.__name__ for c in classes} >= {"RunsApp", "CompareApp", "SweepApp", "InspectApp", "DrawApp"}
    assert [c.__name__ for c in classes if not issubclass(c, StandaloneApp)] == []
    monkeypatch.setenv("COLORFGBG", "0;15")  # a light terminal
    assert RunsApp([str(tmp_path)]).theme == CompareApp([str(tmp_path)]).theme == "ansi-light"


# The keymap file -----------------------------------------------------------------------------------------------
@run_async
async def test_a_keymap_remaps_keys_and_the_old_key_no_longer_acts(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('pause = "P"\nmaximize = "f11"\n')
    keymap = load_keymap(path)
    assert keymap.keys == {"pause": "P", "maximize": "f11"} and not keymap.problems
    app = make_app(hold(60), keymap=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 60 and app.run_state == ev.RunState.RUNNING)
        await pilot.press("p")
        await pilot.pause()
        assert not app.control.paused
        await pilot.press("P")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await pilot.press("P")  # resume shares pause's id: one key for both
        await wait_for(pilot, lambda: app.run_state == ev.RunState.RUNNING)
        await pilot.press("f11")
        assert app.screen.maximized is app.loss_chart
        await pilot.press("z")
        assert app.screen.maximized is app.loss_chart  # z is no longer the key
        app.control.stop()
        await wait_for(pilot, lambda: app.trainer_done)


@run_async
async def test_a_bad_keymap_names_each_bad_entry_and_the_defaults_still_work(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('pause = "s"\npaws = "x"\nhelp = "not a key"\nloss_scale = "Y"\n')
    keymap = load_keymap(path)
    assert keymap.keys == {"loss_scale": "Y"}
    assert len(keymap.problems) == 3
    assert "pause = 's': 's' is already the key of stop" in keymap.problems[0]
    assert "paws" in keymap.problems[1] and "no such binding id" in keymap.problems[1]
    assert "'not a key' is not a key" in keymap.problems[2]
    assert all(str(path) in line and "\n" not in line for line in keymap.problems)
    app = make_app(hold(60), keymap=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 60 and app.run_state == ev.RunState.RUNNING)
        shown = [n.message for n in app._notifications if n.title == "Keymap"]
        assert shown == ["3 left out (pause, paws, help): default keys (the run log says why)"]  # one toast for all
        assert all(problem in app.run_log.lines_added for problem in keymap.problems)
        await pilot.press("p")  # pause kept its default key
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        await pilot.press("Y")  # the good entry applies
        assert not app.loss_chart.log_scale
        app.control.stop()
        await wait_for(pilot, lambda: app.trainer_done)


def test_a_keymap_file_that_is_not_toml_is_one_line_and_changes_nothing(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text("pause = \n")
    keymap = load_keymap(path)
    assert keymap.keys == {} and len(keymap.problems) == 1 and "not TOML" in keymap.problems[0]
    assert load_keymap(tmp_path / "missing.toml").problems == ()


def test_keymap_clashes_are_judged_on_the_whole_file():
    assert parse_keymap({"pause": "s", "stop": "p"}).keys == {"pause": "s", "stop": "p"}  # a swap is fine
    refused = parse_keymap({"pause": "s", "stop": "q"})  # stop cannot have q, so it keeps s, so pause cannot
    assert refused.keys == {} and len(refused.problems) == 2
    assert "reserved" in parse_keymap({"quit": "ctrl+p"}).problems[0]  # the palette's key


def test_the_keymap_lives_in_the_user_config_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert keymap_path().name == "keymap.toml" and "mnist-tui" in keymap_path().parts


# Telling the user ------------------------------------------------------------------------------------------------
@run_async
async def test_the_bell_and_a_toast_at_the_end_of_the_run():
    app = make_app(DemoRun(run_dir="runs/demo"))
    rings = counting_bell(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.finished is not None)
        await pilot.pause()
        assert rings == [1]
        assert [a.kind for a in app.alerts] == ["completed"]
        assert any(n.title == "Run finished" for n in app._notifications)
        assert app.window_title.startswith("mnist-tui done 100% ")


@run_async
async def test_early_stop_rings_and_says_so():
    app = make_app(DemoRun(early_stop_at=70, run_dir="runs/demo"))
    rings = counting_bell(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.finished is not None)
        assert rings == [1] and app.alerts[0].kind == "early_stop"
        assert any(n.title == "Early stop" for n in app._notifications)


@run_async
async def test_divergence_out_of_memory_and_a_lost_connection_each_ring_and_show():
    cases = [
        (finished(ev.Reason.DIVERGED, "diverged: the training loss is nan; try a lower --lr"), AppMode.TRAIN, "diverged"),
        (
            finished(ev.Reason.FAILED, "cuda:0 ran out of memory at iteration 10: try a smaller --batch-size"),
            AppMode.TRAIN,
            "out_of_memory",
        ),
        (
            ev.RunFinished.failure("the run's process (4242) went away without finishing the run"),
            AppMode.VIEW,
            "lost_connection",
        ),
    ]
    for event, mode, kind in cases:
        app = make_app(ends_with(event), mode=mode)
        rings = counting_bell(app)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda app=app: app.finished is not None)
            await pilot.pause()
            assert rings == [1], kind
            assert [a.kind for a in app.alerts] == [kind]
            assert sum(event.message in n.message for n in app._notifications) == 1  # one toast, not two
            assert "FAILED" in app.window_title


@run_async
async def test_no_bell_keeps_the_toast():
    app = make_app(DemoRun(run_dir="runs/demo"), bell=False)
    rings = counting_bell(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.finished is not None)
        await pilot.pause()
        assert rings == [] and any(n.title == "Run finished" for n in app._notifications)


@run_async
async def test_no_bell_when_the_user_quits_or_replays_a_finished_run():
    app = make_app(hold(40))
    rings = counting_bell(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 40)
        app.shutdown_gracefully()  # what confirming quit does: the user is here, nothing to ring for
        await wait_for(pilot, lambda: app.finished is not None)
    assert rings == [] and app.alerts == []

    app = make_app(DemoRun(run_dir="runs/demo"), mode=AppMode.HISTORY)
    rings = counting_bell(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.finished is not None)
        await pilot.pause()
        assert rings == [] and app.alerts == []


@run_async
async def test_the_terminal_title_follows_state_progress_and_best_accuracy():
    app = make_app(hold(90))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.iteration == 90)
        best = app.accuracy_chart.best
        assert app.window_title == f"mnist-tui 50% {best:.1f}%"  # 90 of 180 iterations
        await pilot.press("p")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        assert app.window_title == f"mnist-tui paused 50% {best:.1f}%"
        app.control.stop()
        await wait_for(pilot, lambda: app.trainer_done)


def test_window_title_words():
    assert window_title(ev.RunState.LOADING, None, None) == "mnist-tui loading"
    assert window_title(ev.RunState.RUNNING, 0.4567, 98.94) == "mnist-tui 45% 98.9%"
    assert window_title(ev.RunState.FINISHED, 0.999, 99.1) == "mnist-tui done 99% 99.1%"  # 100% only when all ran
    assert window_title(ev.RunState.EARLY_STOPPED, 0.6, 99.0) == "mnist-tui done (early stop) 60% 99.0%"
