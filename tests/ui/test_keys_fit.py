"""Every key can be found, and the screens fit 80x24 and 120x40: the help screen lists every binding (with the
keys a keymap file gave them), a remapped key keeps its place in the footer, the keymap's toast is one short
one, the quit dialog's buttons lie inside it, and the error browser's footer shows ``o``."""

from __future__ import annotations

import dataclasses

import pytest
from helpers.scripted import DemoRun
from helpers.ui import make_app, run_async, wait_for
from rich.console import Console
from textual.widgets import Button, Static
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast

from mnist_tui.engine import events as ev
from mnist_tui.ui.live.commands import BINDING_IDS, COMMANDS
from mnist_tui.ui.apps.inspect_app import InspectApp
from mnist_tui.ui.live.keymap import parse_keymap
from mnist_tui.ui.live.mode import AppMode
from mnist_tui.ui.screens import HelpScreen, QuitScreen
from mnist_tui.ui.screens.help import DOES, key_name

SIZES = [(80, 24), (120, 40)]


def running(app) -> bool:
    return app.iteration == 60 and app.run_state == ev.RunState.RUNNING


def help_keys(screen: HelpScreen) -> set[str]:
    """The keys in the help screen's key column, as drawn."""
    table = screen.query(Static).filter(".help-section").first().content
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    keys: set[str] = set()
    for line in console.export_text().splitlines():
        cell = line.split("  ")[0].strip()
        keys.update(k.strip() for k in cell.split(" / ") if k.strip())
    return keys


def footer_shows(app) -> dict[str, FooterKey]:
    """The footer keys that can be seen whole: inside the screen and not under the palette's key."""
    keys = list(app.screen.query(FooterKey))
    palette = [k for k in keys if k.has_class("-command-palette")]
    right = min([app.size.width, *(k.region.x for k in palette)])
    return {k.key: k for k in keys if k not in palette and k.region.width and k.region.right <= right}


async def stop(app, pilot) -> None:
    app.control.stop()
    await wait_for(pilot, lambda: app.trainer_done)


# The help screen: every binding ---------------------------------------------------------------------------------
def test_every_binding_id_says_what_it_does_at_length():
    assert set(DOES) == set(BINDING_IDS)


@pytest.mark.parametrize("size", SIZES)
@run_async
async def test_the_help_screen_lists_every_key_of_the_app(size):
    app = make_app(DemoRun(hold_at=60))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: running(app))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = help_keys(app.screen)
        for command in COMMANDS:
            for key in command.keys.split(","):
                assert key_name(key) in shown, f"the help screen leaves out {key_name(key)!r} ({command.action})"
        assert "r" in shown and "ctrl+p" in shown
        await pilot.press("escape")
        await stop(app, pilot)


@run_async
async def test_the_help_screen_shows_the_keys_a_keymap_gave():
    app = make_app(DemoRun(hold_at=60), keymap=parse_keymap({"pause": "P", "refresh_rate": "f5"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: running(app))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = help_keys(app.screen)
        assert {"P", "f5"} <= shown and "r" not in shown and "space" not in shown
        await pilot.press("escape")
        await stop(app, pilot)


# The footer and the keymap at 80x24 -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
@run_async
async def test_a_remapped_key_keeps_its_place_in_the_footer(size):
    app = make_app(DemoRun(hold_at=60), keymap=parse_keymap({"pause": "P"}))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: running(app))
        await pilot.pause()
        shown = footer_shows(app)
        assert "P" in shown and shown["P"].description == "Pause", sorted(shown)
        order = [k.key for k in sorted(app.screen.query(FooterKey), key=lambda k: k.region.x)]
        assert order[0] == "P"  # where p was: first
        palette = app.screen.query(FooterKey).filter(".-command-palette").first()
        assert palette.region.right == app.size.width  # no cut key's letter shows in the last column beside it
        # Every command up to q (those cut on a narrow footer come after it) is seen whole.
        for command in COMMANDS[: [c.action for c in COMMANDS].index("quit") + 1]:
            if command.show and app.check_action(command.action, ()):
                key = "P" if command.binding_id == "pause" else command.keys.split(",")[0]
                assert key in shown, f"{key} {command.description} is cut off the footer at {size}"
        await pilot.press("P")
        await wait_for(pilot, lambda: app.run_state == ev.RunState.PAUSED)
        assert "P" in footer_shows(app) and footer_shows(app)["P"].description == "Resume"
        await stop(app, pilot)


@run_async
async def test_a_bad_keymap_is_one_small_short_toast_at_80x24():
    keymap = parse_keymap({"pause": "s", "paws": "x", "help": "not a key", "stop": 3, "loss_scale": "Y"})
    assert len(keymap.problems) == 4
    app = make_app(DemoRun(hold_at=60), keymap=keymap)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:  # toasts drawn, as in a terminal
        await wait_for(pilot, lambda: running(app))
        await pilot.pause()
        toasts = [n for n in app._notifications if n.title == "Keymap"]
        assert len(toasts) == 1 and toasts[0].timeout <= 8  # one, for a few seconds (each one was 20 s)
        assert "4 left out (pause, paws, help, …)" in toasts[0].message
        assert all(problem in app.run_log.lines_added for problem in keymap.problems)  # each said in full there
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))
        shown = list(app.screen.query(Toast))
        assert len(shown) == 1
        region = shown[0].region
        assert region.height <= 5 and region.width <= 60, region  # not half of the screen
        await stop(app, pilot)


# The quit dialog -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", [AppMode.TRAIN, AppMode.TRAIN_DETACHABLE])
@run_async
async def test_the_quit_dialog_buttons_lie_inside_it(size, mode):
    app = make_app(DemoRun(hold_at=60), mode=mode)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: running(app))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.pause()
        dialog = app.screen.query_one("#quit-dialog")
        inside = dialog.content_region
        assert app.screen.region.contains_region(dialog.region)
        buttons = list(app.screen.query(Button))
        assert len(buttons) == (3 if mode is AppMode.TRAIN_DETACHABLE else 2)
        for button in buttons:
            assert inside.contains_region(button.region), f"{button.label} {button.region} outside {inside}"
        assert "Keep running" in str(buttons[-1].label)
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, QuitScreen))
        await stop(app, pilot)


# The error browser's footer ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
@run_async
async def test_the_error_browser_footer_shows_o_and_every_key(size, tmp_path):
    from test_errors_browser import ERRORS, snapshot

    test_set = snapshot()
    app = InspectApp(test_set, run_dir=str(tmp_path))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert "o" in footer_shows(app) and footer_shows(app)["o"].has_class("-disabled")  # there, dimmed: nothing to switch to
        await pilot.press("o")
        assert screen.snapshot is test_set
        # Every key at once: a filter, a newer evaluation, the other set, the CSVs, the view switch.
        screen.live = True
        screen.offer(dataclasses.replace(snapshot(errors=ERRORS[:2], iteration=120), split=ev.VALIDATION))
        screen.offer(snapshot(iteration=200))
        await pilot.press("t")
        await pilot.pause()
        shown = footer_shows(app)
        wanted = {b.key.split(",")[0] for b in screen.BINDINGS if b.show and screen.check_action(b.action, ()) is not False}
        assert wanted <= set(shown), sorted(wanted - set(shown))
        assert not shown["o"].has_class("-disabled")
        await pilot.press("o")
        await pilot.pause()
        assert screen.snapshot.split == ev.VALIDATION
