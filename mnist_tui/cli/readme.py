"""The README's command list and key tables, made from what the program itself uses: the command registry
(common.USAGES, which dispatches the commands and makes ``mnist-tui --help``'s list), the app's bindings with
the help screen's rows (ui/commands.py, ui/screens/help.py) and the draw canvas's bindings. Not a command:

    python -m mnist_tui.cli.readme [README.md]     # rewrite the generated blocks in place
    python -m mnist_tui.cli.readme --check         # exit 1 if the README's blocks are not what they would be

Each block sits between ``<!-- generated: NAME ... -->`` and ``<!-- end: NAME -->`` lines, which the README
keeps; the text between them is replaced. tests/cli/test_readme_tables.py fails when they differ.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..ui.draw_app import StandaloneDrawScreen
from ..ui.screens.help import key_rows
from ..ui.widgets.canvas import Canvas
from .common import USAGES

BEGIN = "<!-- generated: {name} (python -m mnist_tui.cli.readme; edit the source, not this) -->"
END = "<!-- end: {name} -->"


def command_block() -> str:
    """Every way to call mnist-tui, one line each with what it does, as a shell block."""
    calls = [f"mnist-tui {usage.synopsis}" for usage in USAGES]
    column = max(len(call) for call in calls) + 2
    lines = [f"{call:<{column}}# {usage.summary}" for call, usage in zip(calls, USAGES)]
    return "\n".join(["```bash", *lines, "```"])


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


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(BEGIN.format(name=name)) + r"\n(.*?)\n?" + re.escape(END.format(name=name)), flags=re.DOTALL
    )


def blocks_in(text: str) -> dict[str, str | None]:
    """Each generated block's text as the README has it (None: its markers are missing)."""
    found = {name: block_pattern(name).search(text) for name in BLOCKS}
    return {name: match.group(1) if match else None for name, match in found.items()}


def updated(text: str) -> str:
    """``text`` with each generated block made anew; a block whose markers are missing is a ValueError."""
    for name, make in BLOCKS.items():
        pattern = block_pattern(name)
        if not pattern.search(text):
            raise ValueError(f"no {BEGIN.format(name=name)!r} ... {END.format(name=name)!r} block")
        block = f"{BEGIN.format(name=name)}\n{make()}\n{END.format(name=name)}"
        text = pattern.sub(lambda _: block, text, count=1)
    return text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    path = Path(next((a for a in args if a != "--check"), "README.md"))
    text = path.read_text(encoding="utf-8")
    try:
        new = updated(text)
    except ValueError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    if check:
        if new != text:
            print(f"{path}: the generated blocks are out of date; run python -m mnist_tui.cli.readme", file=sys.stderr)
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
