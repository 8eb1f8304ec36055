"""The README's command table and the manual's key tables, made from what the program itself uses: the command
registry (common.USAGES, which dispatches the commands and makes ``mnist-tui --help``'s list), the app's bindings
with the help screen's rows (ui/live/commands.py, ui/screens/help.py) and the draw canvas's bindings. Not a command:

    python -m mnist_tui.cli.readme [ROOT]          # rewrite the generated blocks of ROOT's pages in place
    python -m mnist_tui.cli.readme --check [ROOT]  # exit 1 if a page's blocks are not what they would be

ROOT is the repository's root (default: the current directory); PAGES says which page holds which block. Each
block sits between ``<!-- generated: NAME ... -->`` and ``<!-- end: NAME -->`` lines, which the page keeps; the
text between them is replaced. tests/cli/test_readme_tables.py fails when they differ.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from ..ui.apps.draw_app import StandaloneDrawScreen
from ..ui.screens.help import key_rows
from ..ui.widgets.canvas import Canvas
from .common import USAGES

BEGIN = "<!-- generated: {name} (python -m mnist_tui.cli.readme; edit the source, not this) -->"
END = "<!-- end: {name} -->"


# The manual's page that tells about each way to call mnist-tui (by its synopsis), as the README links it.
COMMAND_PAGES: dict[str, tuple[str, str]] = {
    "[options]": ("docs/app.md", "the live app"),
    "--detach [options]": ("docs/runs.md", "runs and detaching"),
    "data [options]": ("docs/data.md", "data sets"),
    "inspect [RUN_DIR]": ("docs/model.md", "trying the model"),
    "attach [RUN_DIR]": ("docs/runs.md", "runs and detaching"),
    "runs [DIR...]": ("docs/runs.md", "runs and detaching"),
    "ensemble RUN_DIR...": ("docs/model.md", "trying the model"),
    "draw [RUN_DIR]": ("docs/model.md", "trying the model"),
    "predict RUN_DIR IMAGE...": ("docs/model.md", "trying the model"),
    "compare PATH...": ("docs/compare.md", "comparing and exporting"),
    "export PATH... --csv FILE": ("docs/compare.md", "comparing and exporting"),
    "sweep [options] --seeds 0-4": ("docs/sweeps.md", "sweeps and clusters"),
}


def command_block() -> str:
    """Every way to call mnist-tui, a row each with what it does and the manual's page on it, as a Markdown table."""
    lines = ["| command | does | more |", "| --- | --- | --- |"]
    for usage in USAGES:
        page, title = COMMAND_PAGES[usage.synopsis]  # a KeyError here: a new command needs its page named above
        does = usage.summary.replace("|", "\\|")
        lines.append(f"| `mnist-tui {usage.synopsis}` | {does} | [{title}]({page}) |")
    return "\n".join(lines)


def app_key_table() -> str:
    """The live app's keys (the default ones) and what each does, the help screen's rows as a Markdown table."""
    lines = ["| key | does |", "| --- | --- |"]
    for names, text in key_rows():
        keys = ", ".join(f"`{name}`" for name in names)
        does = text.replace("|", "\\|")
        lines.append(f"| {keys} | {does} |")
    return "\n".join(lines)


# mnist-tui draw: the mouse (no bindings), then the keys: the arrow bindings as two rows, the others each a row.
DRAW_MOUSE = (
    ("left mouse button, click and drag", "draw (a soft brush, like a pen on paper)"),
    ("right mouse button, drag", "erase"),
)
ARROW_ROWS = {"": "move the cursor", "shift+": "move the cursor, drawing"}  # by modifier
ARROWS = ("up", "down", "left", "right")


def draw_key_table() -> str:
    """``mnist-tui draw``'s inputs: the mouse, then the canvas's and the draw screen's bindings."""
    rows = [*DRAW_MOUSE]
    for binding in [*Canvas.BINDINGS, *StandaloneDrawScreen.BINDINGS]:
        keys = binding.key.split(",")
        modifier, _, base = keys[0].rpartition("+")
        if base in ARROWS:
            row = (f"{modifier}+arrows" if modifier else "arrows", ARROW_ROWS[f"{modifier}+" if modifier else ""])
            if row not in rows:
                rows.append(row)
            continue
        does = binding.tooltip or binding.description
        rows.append((", ".join(f"`{key}`" for key in keys), does[:1].lower() + does[1:]))
    return "\n".join(["| input | does |", "| --- | --- |", *(f"| {keys} | {does} |" for keys, does in rows)])


BLOCKS: dict[str, Callable[[], str]] = {
    "commands": command_block,
    "app-keys": app_key_table,
    "draw-keys": draw_key_table,
}

# Which page (relative to the repository's root) holds which blocks: each block is in exactly one page.
PAGES: dict[str, tuple[str, ...]] = {
    "README.md": ("commands",),
    "docs/app.md": ("app-keys",),
    "docs/model.md": ("draw-keys",),
}


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(BEGIN.format(name=name)) + r"\n(.*?)\n?" + re.escape(END.format(name=name)), flags=re.DOTALL
    )


def blocks_in(text: str, names: Iterable[str] = BLOCKS) -> dict[str, str | None]:
    """Each named block's text as ``text`` has it (None: its markers are missing)."""
    found = {name: block_pattern(name).search(text) for name in names}
    return {name: match.group(1) if match else None for name, match in found.items()}


def updated(text: str, names: Iterable[str]) -> str:
    """``text`` with each named block made anew; a block whose markers are missing is a ValueError."""
    for name in names:
        pattern = block_pattern(name)
        if not pattern.search(text):
            raise ValueError(f"no {BEGIN.format(name=name)!r} ... {END.format(name=name)!r} block")
        block = f"{BEGIN.format(name=name)}\n{BLOCKS[name]()}\n{END.format(name=name)}"
        text = pattern.sub(lambda _, block=block: block, text, count=1)
    return text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    root = Path(next((a for a in args if a != "--check"), "."))
    pages: dict[Path, tuple[str, str]] = {}  # every page read and made anew before any is written
    for page, names in PAGES.items():
        path = root / page
        try:
            text = path.read_text(encoding="utf-8")
            pages[path] = (text, updated(text, names))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            print(f"{path}: {reason}", file=sys.stderr)
            return 2
    stale = [path for path, (text, new) in pages.items() if new != text]
    if check:
        for path in stale:
            print(f"{path}: the generated blocks are out of date; run python -m mnist_tui.cli.readme", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(pages[path][1], encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
