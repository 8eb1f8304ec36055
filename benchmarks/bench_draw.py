"""Stroke to updated bars on the drawing canvas, alone and while a run trains in the same process; and what
an open canvas costs that run.

    python benchmarks/bench_draw.py RUN_DIR [--strokes 40] [--train-steps 120]

RUN_DIR: a finished run (its weights answer the canvas). The app runs headless (Textual's run_test), driven
by Pilot's mouse: each stroke is one drag segment; the time is from just before the mouse event to the moment
the screen holds the answer for exactly that drawing (the bars are set from it; the next frame draws them).
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

from mnist_tui.ui.draw_app import DrawApp  # noqa: E402
from mnist_tui.ui.widgets.canvas import CELL  # noqa: E402


def at(row: int, col: int) -> tuple[int, int]:
    return 1 + col * CELL, 1 + row


async def strokes(pilot, screen, n: int, gap: float = 0.0) -> list[float]:
    """Draw ``n`` one-segment strokes; the seconds from each mouse event to its answer on screen."""
    times = []
    for i in range(n):
        row, col = 4 + (i * 7) % 20, 4 + (i * 5) % 20
        await pilot.mouse_down("#draw-canvas", offset=at(row, col))
        await pilot.mouse_up("#draw-canvas", offset=at(row, col))
        started = time.perf_counter()
        await pilot.mouse_down("#draw-canvas", offset=at(row + 1, col + 1))
        pixels = screen.canvas.pixels
        while screen.last_answer is None or screen.last_answer.request.pixels != pixels:
            await asyncio.sleep(0.0005)
        times.append(time.perf_counter() - started)
        await pilot.mouse_up("#draw-canvas", offset=at(row + 1, col + 1))
        if i % 6 == 5:
            await pilot.press("c")
        if gap:
            await asyncio.sleep(gap)
    return times


def describe(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"{name}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} strokes"


async def main(args: argparse.Namespace) -> None:
    app = DrawApp(args.run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        while screen.inference.predictor is None:
            await asyncio.sleep(0.05)
        await strokes(pilot, screen, 3)  # warm up
        print(describe("idle", await strokes(pilot, screen, args.strokes)), flush=True)
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
                        busy += await strokes(pilot, screen, 1, gap=0.1)
                else:
                    await asyncio.sleep(block)
                blocks[name].append((started, time.perf_counter()))
        if busy:
            print(describe("while training", busy), flush=True)

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
