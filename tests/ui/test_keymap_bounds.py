"""A keymap file of any content is at worst a line (a toast in the app): nested too deeply for the TOML reader,
too large, too many keys for one command, not a regular file. Real files, the real loader."""

from __future__ import annotations

import os
import threading

import pytest

from mnist_tui.ui.live.commands import DEFAULT_KEYS
from mnist_tui.ui.live.keymap import MAX_FILE_BYTES, MAX_KEYS, load_keymap


def test_an_array_nested_30000_deep_is_one_line_and_the_default_keys_apply(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text("pause = " + "[" * 30_000 + "]" * 30_000 + "\n")  # under the size cap
    keymap = load_keymap(path)
    assert keymap.keys == {} and len(keymap.problems) == 1
    assert keymap.problems[0] == f"keymap {path}: nested too deeply to be a keymap; the default keys apply"


def test_an_array_nested_less_deeply_is_named_by_its_type(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('pause = [[["p"]]]\nstop = "ctrl+x"\n')
    keymap = load_keymap(path)
    assert keymap.keys == {"stop": "ctrl+x"}
    assert keymap.problems == (f"keymap {path}: pause = an array: expected keys as a string, such as \"p\" or "
                               "\"ctrl+s,f5\"; its default keys apply",)  # fmt: skip


def test_twenty_thousand_keys_for_one_command_are_refused_whole(tmp_path):
    path = tmp_path / "keymap.toml"
    keys = ",".join(f"ctrl+{c}" for c in "abdefghijklmnorstuvwxyz")  # more than MAX_KEYS, all keys
    many = ",".join(["f5"] * 20_000)
    path.write_text(f'pause = "{many}"\nstop = "{keys}"\nhelp = "f1,f2"\n')
    keymap = load_keymap(path)
    assert keymap.keys == {"help": "f1,f2"}
    assert len(keymap.problems) == 2 and all(len(line) < 300 for line in keymap.problems)
    assert f": 20,000 keys; a command has at most {MAX_KEYS}; its default keys apply" in keymap.problems[0]
    assert "pause = 'f5,f5,f5" in keymap.problems[0] and "...'" in keymap.problems[0]
    assert DEFAULT_KEYS["pause"]  # the default still applies: nothing changed it


def test_a_file_too_large_to_be_a_keymap_is_not_read(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1) + 'pause = "P"\n')
    keymap = load_keymap(path)
    assert keymap.keys == {} and len(keymap.problems) == 1
    assert "too large to be a keymap" in keymap.problems[0] and "\n" not in keymap.problems[0]


def test_escape_sequences_in_a_binding_id_are_shown_escaped(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('"paws\\u001b[2J" = "P"\n')
    keymap = load_keymap(path)
    assert len(keymap.problems) == 1 and "\x1b" not in keymap.problems[0]
    assert "paws\\x1b[2J = 'P': no such binding id" in keymap.problems[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_in_place_of_the_keymap_does_not_hold_up_the_start(tmp_path):
    path = tmp_path / "keymap.toml"
    os.mkfifo(path)
    found = []
    reader = threading.Thread(target=lambda: found.append(load_keymap(path)), daemon=True)
    reader.start()
    reader.join(30)
    if reader.is_alive():  # let the blocked open go before failing
        with open(path, "wb"):
            pass
        reader.join(5)
        pytest.fail("load_keymap blocked on a FIFO")
    assert found[0].keys == {} and "not a regular file" in found[0].problems[0]
