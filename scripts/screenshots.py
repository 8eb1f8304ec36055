"""Save the manual's screenshots (SVG) from a real run: the training screen, the error browser, the drawing
canvas, compare and runs, on a dark and on a light terminal (the default theme: the terminal's own colours)
and with NO_COLOR.

    python scripts/screenshots.py [--out docs/screenshots] [--dataset mnist] [--max-steps 235] [--size 120x40]

Trains the fast preset once (seed 0, on the CPU) into a temporary run directory with ``mnist-tui --headless``,
then opens that run in each screen with Textual's test harness and saves what the screen shows. Prints the
files it wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# How the terminal looks: (name, theme, NO_COLOR). The ANSI themes draw with the terminal's own colours; the
# SVG shows them with Textual's dark or light terminal palette.
VARIANTS = (("dark", "ansi-dark", False), ("light", "ansi-light", False), ("no-color", "ansi-dark", True))


def train(run_dir: Path, dataset: str, max_steps: int) -> None:
    command = [sys.executable, "-m", "mnist_tui", "--headless", "--preset", "fast", "--device", "cpu", "--seed", "0",
               "--dataset", dataset, "--max-steps", str(max_steps), "--run-dir", str(run_dir)]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def with_no_color(no_color: bool, make):
    """Make an app with NO_COLOR set or not (Textual reads it when the app is made), drawing as for a terminal of
    256 or more colours (the test harness's console says 16)."""
    from rich.color import ColorSystem

    old = os.environ.pop("NO_COLOR", None)
    if no_color:
        os.environ["NO_COLOR"] = "1"
    try:
        app = make()
        app.console._color_system = ColorSystem.TRUECOLOR
        return app
    finally:
        os.environ.pop("NO_COLOR", None)
        if old is not None:
            os.environ["NO_COLOR"] = old


async def settle(pilot, seconds: float = 1.0) -> None:
    for _ in range(int(seconds / 0.1)):
        await pilot.pause(0.1)


async def shoot(run_dir: Path, out: Path, name: str, theme: str, no_color: bool, size: tuple[int, int]) -> list[Path]:
    from mnist_tui.cli.inspect import evaluate_run
    from mnist_tui.runs.catalogue import read_run
    from mnist_tui.ui.apps.compare_app import CompareApp
    from mnist_tui.ui.apps.draw_app import DrawApp
    from mnist_tui.ui.apps.inspect_app import InspectApp
    from mnist_tui.ui.apps.runs_app import RunsApp
    from mnist_tui.ui.common.screenshot import save_svg
    from mnist_tui.ui.live.viewer import attach_app

    saved: list[Path] = []

    async def save(app, what: str) -> None:
        saved.append(Path(save_svg(app, str(out), f"{what}-{name}.svg")))

    app = with_no_color(no_color, lambda: attach_app(read_run(run_dir), theme=theme, bell=False))
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 8.0)  # the whole run replayed, the charts drawn (on their timers)
        await save(app, "training")

    def themed(make):
        """The app ``make()`` returns, made with NO_COLOR as asked, in this variant's theme."""

        def made():
            app = make()
            app.theme = theme
            return app

        return with_no_color(no_color, made)

    snapshot = evaluate_run(run_dir, device="cpu")  # what mnist-tui inspect opens on
    app = themed(lambda: InspectApp(snapshot, str(run_dir)))
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 3.0)  # the list, the digit, and the maps of what the model looks at
        await pilot.press("down", "down")
        await settle(pilot, 3.0)
        await save(app, "errors")

    app = themed(lambda: DrawApp(str(run_dir)))
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 2.0)
        from mnist_tui.ui.widgets.canvas import Canvas

        canvas = app.screen.query_one(Canvas)
        canvas.line((5, 8), (5, 20))  # a seven: the bar, then the stroke down
        canvas.line((5, 20), (23, 11))
        canvas.refresh()
        canvas.post_message(Canvas.Changed(canvas, canvas.pixels))  # what the model makes of it
        await settle(pilot, 2.0)
        await save(app, "canvas")

    for what, make, seconds in (
        ("compare", lambda: CompareApp([str(run_dir.parent)]), 3.0),
        ("runs", lambda: RunsApp([str(run_dir.parent)]), 2.0),
    ):
        app = themed(make)
        async with app.run_test(size=size) as pilot:
            await settle(pilot, seconds)
            await save(app, what)
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--max-steps", type=int, default=235)
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "runs" / "fast-seed0"
        train(run_dir, args.dataset, args.max_steps)
        for name, theme, no_color in VARIANTS:
            for path in asyncio.run(shoot(run_dir, out, name, theme, no_color, (width, height))):
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
