"""The user's keymap: a TOML file in the user config directory that remaps the live app's keys by binding id.

    # ~/.config/mnist-tui/keymap.toml (mnist-tui --help prints where it is on this system)
    pause = "P"            # a binding id (commands.py) = its keys, comma-separated: "p,space"
    maximize = "f11,z"

An entry that cannot apply (an unknown id, a key that is not a key, a key another command already has, a value
that is not a string, more than ``MAX_KEYS`` keys) is left out with one line naming it, and that command keeps its
default keys; a file that is not TOML (or nested too deeply for the TOML reader), larger than ``MAX_FILE_BYTES`` or
not a regular file leaves every key as it is. Nothing here stops the app from starting.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_config_path
from textual.keys import Keys, _character_to_key, key_to_character

from ...runs.untrusted import printable
from .commands import BINDING_IDS, DEFAULT_KEYS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with tomli, tomllib's origin
    import tomli as tomllib

FILE_NAME = "keymap.toml"
MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
# Keys the app itself or Textual already needs: the palette, quitting, copying, moving focus, closing a screen.
RESERVED = frozenset({"ctrl+p", "ctrl+q", "ctrl+c", "tab", "shift+tab", "escape"})
_NAMED_KEYS = frozenset(key.value for key in Keys)
MAX_FILE_BYTES = 64 * 1024  # a keymap is a few lines: a larger file is not one
MAX_KEYS = 8  # keys one command may have
_SHOWN = 80  # characters of a refused value shown in its line


def keymap_path() -> Path:
    """Where the keymap file is looked for (it need not exist)."""
    return user_config_path("mnist-tui", appauthor=False) / FILE_NAME


TOAST_SECONDS = 6  # how long the one toast about a keymap's problems stays (the run log keeps each line)


@dataclass(frozen=True)
class Keymap:
    """The keys a keymap file changes (binding id -> keys), and one line for each entry it had to leave out."""

    keys: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    path: Path | None = None
    left_out: tuple[str, ...] = ()  # the ids of the entries left out, as shown (printable, cut short)

    @property
    def bindings(self) -> dict[str, str]:
        """Every binding id and the keys it has: the file's, else the default. The app hands Textual all of
        them, not only the changed ones: Textual moves a remapped binding to the end of the footer, where a
        narrow terminal cuts it off (pause = "P" lost its place at 80 columns); given all, it keeps their order."""
        return {**DEFAULT_KEYS, **self.keys}

    @property
    def toast(self) -> str | None:
        """One short line for a toast when entries were left out (each is a line in the run log), else None.
        A toast per entry, each naming the file, covered half of an 80x24 screen for 20 s."""
        if not self.problems:
            return None
        if not self.left_out:
            return "Not used: the default keys apply (the run log says why)"
        n = len(self.left_out)
        ids = ", ".join(self.left_out[:3]) + (", …" if n > 3 else "")
        return f"{n} left out ({ids}): default keys (the run log says why)"


def load_keymap(path: Path | None = None) -> Keymap:
    """Read ``path`` (default: ``keymap_path()``); a missing file is an empty keymap."""
    path = keymap_path() if path is None else path
    shown = printable(path)
    try:
        text = _read_bounded(path)
    except FileNotFoundError:
        return Keymap(path=path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Keymap(problems=(f"keymap {shown}: cannot read it ({printable(exc)}); the default keys apply",), path=path)
    try:
        entries = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Keymap(problems=(f"keymap {shown}: not TOML ({printable(exc)}); the default keys apply",), path=path)
    except RecursionError:
        return Keymap(problems=(f"keymap {shown}: nested too deeply to be a keymap; the default keys apply",), path=path)
    return parse_keymap(entries, path)


def _read_bounded(path: Path) -> str:
    """The file's text: a regular file of at most ``MAX_FILE_BYTES`` (a FIFO would block, a device never end)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES // 1024} KiB, too large to be a keymap")
    return data.decode("utf-8")


def parse_keymap(entries: dict[str, object], path: Path | None = None) -> Keymap:
    """Check each entry against the binding ids and the keys in use; keep the good ones, name the others.

    Clashes are judged on the keymap as a whole (swapping two commands' keys is fine); an entry left out gives
    its command back its default keys, which may in turn clash with another entry, so this repeats until none do.
    """
    where = f"keymap {printable(path)}" if path is not None else "keymap"
    refused: dict[str, str] = {}
    for binding_id, value in entries.items():
        problem = _check(binding_id, value)
        if problem is not None:
            refused[binding_id] = problem
    keys = {binding_id: _normalise(str(value)) for binding_id, value in entries.items() if binding_id not in refused}
    while clashes := _clashes(keys):
        refused.update(clashes)
        keys = {binding_id: k for binding_id, k in keys.items() if binding_id not in clashes}
    problems = tuple(
        f"{where}: {printable(binding_id)} = {_shown(value)}: {refused[binding_id]}; "
        + ("its default keys apply" if binding_id in BINDING_IDS else "left out")
        for binding_id, value in entries.items()
        if binding_id in refused
    )
    left_out = tuple(_shown_id(binding_id) for binding_id in entries if binding_id in refused)
    return Keymap(keys=keys, problems=problems, path=path, left_out=left_out)


def _shown_id(binding_id: str) -> str:
    text = printable(binding_id)
    return text if len(text) <= 24 else text[:23] + "…"


def _check(binding_id: str, value: object) -> str | None:
    if binding_id not in BINDING_IDS:
        return f"no such binding id (the ids: {', '.join(BINDING_IDS)})"
    if not isinstance(value, str) or not value.strip():
        return 'expected keys as a string, such as "p" or "ctrl+s,f5"'
    if value.count(",") >= MAX_KEYS:
        return f"{value.count(',') + 1:,} keys; a command has at most {MAX_KEYS}"
    bad = [key.strip() for key in value.split(",") if not is_key(key.strip())]
    if bad:
        return f"{_shown(bad[0])} is not a key (a character, a name such as f5, space or up, with ctrl+, alt+ …)"
    return None


def _shown(value: object) -> str:
    """A value from the file as its line shows it: a string's repr (control characters escaped), cut short;
    another value by its type (a list nested 900 deep has no repr)."""
    if isinstance(value, (bool, int, float)):
        return repr(value)
    if not isinstance(value, str):
        return {list: "an array", dict: "a table"}.get(type(value), f"a {type(value).__name__}")
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "...'"


def is_key(key: str) -> bool:
    """A key Textual can bind: one character or a key's name, after any modifiers (``ctrl+shift+f5``)."""
    *modifiers, base = key.split("+") if len(key) > 1 else [key]
    if any(m not in MODIFIERS for m in modifiers) or not base:
        return False
    return len(base) == 1 or base in _NAMED_KEYS or key_to_character(base) is not None


def _normalise(keys: str) -> str:
    """The long form Textual binds by ("?" -> "question_mark"), comma-separated without spaces."""
    return ",".join(_character_to_key(k) if len(k) == 1 else k for k in (k.strip() for k in keys.split(",")))


def _clashes(changed: dict[str, str]) -> dict[str, str]:
    """The entries of ``changed`` with a key that a reserved key or another command has too, and why."""
    holders: dict[str, list[str]] = {}
    for binding_id, keys in {**DEFAULT_KEYS, **changed}.items():
        for key in _normalise(keys).split(","):
            holders.setdefault(key, []).append(binding_id)
    clashes: dict[str, str] = {}
    for binding_id, keys in changed.items():
        for key in keys.split(","):
            others = [other for other in holders[key] if other != binding_id]
            if key in RESERVED:
                clashes[binding_id] = f"{key!r} is reserved (the palette, quitting, copying, focus, closing)"
            elif others:
                clashes[binding_id] = f"{key!r} is already the key of {others[0]}"
            else:
                continue
            break
    return clashes
