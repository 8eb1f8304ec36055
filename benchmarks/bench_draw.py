"""Stroke to updated bars on the drawing canvas, alone and while a run trains in the same process; and what
an open canvas costs that run.

    python benchmarks/bench_draw.py RUN_DIR [--strokes 40] [--train-steps 120]

RUN_DIR: a finished run (its weights answer the canvas). The app runs headless (Textual's run_test); each
stroke is what the canvas's mouse handler does for one drag segment (a line of dabs and its Changed message),
called on the UI thread; the time is from the stroke to the frame that draws the bars of exactly that drawing
(Pilot's own mouse events are not used here: Pilot waits for the app to settle after each, which is not
what a terminal does).
Then a fast-preset run trains on real MNIST in a thread of this process, first with the canvas idle and then
while it draws a stroke every 100 ms, alternating (A B A B) in blocks of steps, and the images/s of each are
compared by their medians. Figures on a shared 2-core machine vary; read the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_tui.ui.apps.draw_app import DrawApp  # noqa: E402
from mnist_tui.ui.widgets.canvas import CELL  # noqa: E402
from mnist_tui.ui.widgets.probability_bars import ProbabilityBars  # noqa: E402

_render = ProbabilityBars.render


def _timed_render(self):
    """The bars' render, noting when it ran: the frame that shows them is being drawn."""
    self.drawn_at = time.monotonic()
    return _render(self)


ProbabilityBars.render = _timed_render


def at(row: int, col: int) -> tuple[int, int]:
    return 1 + col * CELL, 1 + row


async def strokes(screen, n: int, gap: float = 0.0) -> list[float]:
    """Draw ``n`` one-segment strokes as the canvas's mouse handler does (a line of dabs, then its Changed
    message); the seconds from each stroke to the first frame that draws the bars of exactly that drawing."""
    canvas, times = screen.canvas, []
    for i in range(n):
        row, col = 4 + (i * 7) % 20, 4 + (i * 5) % 20
        started = time.monotonic()
        canvas.line((row, col), (row + 2, col + 1))
        canvas._changed()
        pixels = canvas.pixels
        while not (
            screen.last_answer is not None
            and screen.answered_at > started
            and screen.last_answer.request.pixels == pixels
            and getattr(screen.bars, "drawn_at", 0.0) > screen.answered_at
        ):
            await asyncio.sleep(0.0005)
        times.append(screen.bars.drawn_at - started)
        if i % 6 == 5:
            canvas.clear()
        await asyncio.sleep(gap or 0.05)
    return times


def describe(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"{name}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} strokes"


async def main(args: argparse.Namespace) -> None:
    app = DrawApp(args.run_dir)
    async with app.run_test(size=(120, 40)):
        screen = app.screen
        while screen.inference.predictor is None:
            await asyncio.sleep(0.05)
        await strokes(screen, 3)  # warm up
        print(describe("idle, stroke to bars drawn", await strokes(screen, args.strokes)), flush=True)
        if not args.train_steps:
            return

        from mnist_tui.config import preset_config
        from mnist_tui.engine import events as ev
        from mnist_tui.runs.start import make_trainer

        rates: list[tuple[float, float]] = []  # (time, images/s) of each StepMetrics
        done = threading.Event()

        def train() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = preset_config(
                    "fast", device="cpu", threads=1, max_steps=args.train_steps, metrics_interval=0.5,
                    run_dir=str(Path(tmp) / "run"),
                )  # fmt: skip
                for event in make_trainer(cfg).run():
                    if isinstance(event, ev.StepMetrics):
                        rates.append((time.perf_counter(), event.images_per_second))
            done.set()

        threading.Thread(target=train, daemon=True).start()
        while not rates and not done.is_set():
            await asyncio.sleep(0.1)
        blocks: dict[str, list[tuple[float, float]]] = {"idle": [], "drawing": []}
        busy: list[float] = []
        block = 3.0  # seconds per block
        while not done.is_set():
            for name in ("idle", "drawing"):
                started = time.perf_counter()
                if name == "drawing":
                    while time.perf_counter() - started < block and not done.is_set():
                        busy += await strokes(screen, 1, gap=0.1)
                else:
                    await asyncio.sleep(block)
                blocks[name].append((started, time.perf_counter()))
        if busy:
            print(describe("while training, stroke to bars drawn", busy), flush=True)

        def rate_in(spans):
            return [r for t, r in rates if any(a < t <= b for a, b in spans)]

        idle, drawing = rate_in(blocks["idle"]), rate_in(blocks["drawing"])
        if idle and drawing:
            a, b = statistics.median(idle), statistics.median(drawing)
            print(
                f"training images/s, median: canvas idle {a:,.0f} ({len(idle)} readings), drawing every 100 ms "
                f"{b:,.0f} ({len(drawing)} readings): {100 * (b / a - 1):+.1f}%",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--strokes", type=int, default=40)
    parser.add_argument("--train-steps", type=int, default=120)
    asyncio.run(main(parser.parse_args()))
