"""Memory over a long run in the app: 100 epochs, sampled every 10, printed as a table.

    python scripts/memory_long_run.py [--source trainer|demo] [--epochs 100]

``trainer`` (the default) is the real trainer on small synthetic digits in the real file format (11 steps an
epoch on the 550 left after the validation split; a full evaluation with its error snapshot of the validation
set every 4 steps and at each epoch end, and of the test set at each epoch end: about 450 evaluations), driven
through the real app by Textual's Pilot; ``demo`` is the scripted source at the tutorial's shape (600 steps an epoch,
an evaluation every 50: 60,000 steps, far beyond the charts' 2,000-point capacity). Python's heap is
measured with tracemalloc (what the app and the engine hold) and the process's RSS with psutil.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mnist_tui.config import EarlyStoppingConfig, TrainConfig  # noqa: E402
from mnist_tui.engine.control import Control  # noqa: E402
from mnist_tui.runs.devstats import DeviceStats  # noqa: E402
from mnist_tui.ui.live.app import MnistApp  # noqa: E402
from helpers.scripted import DemoRun  # noqa: E402


def source_for(kind: str, epochs: int):
    if kind == "demo":
        return DemoRun(
            steps_per_epoch=600,
            epochs=epochs,
            eval_every=50,
            chunk=25,
            step_delay=0.002,
            early_stopping=EarlyStoppingConfig(enabled=False),
        )
    from helpers.synthetic import write_dataset

    data = write_dataset(Path(tempfile.mkdtemp(prefix="mem-data-")), n_train=600, n_test=200)
    cfg = TrainConfig(dataset=str(data), device="cpu", batch_size=50, eval_every=4, epochs=epochs,
                      threads=1, metrics_interval=0.05, run_dir=tempfile.mkdtemp(prefix="mem-run-") + "/run")  # fmt: skip
    # Early stopping off, so the run goes the whole way.
    cfg = cfg.replace(early_stopping=cfg.early_stopping.replace(enabled=False))

    def trainer_events(control: Control):
        from mnist_tui.runs.start import make_trainer

        return make_trainer(cfg, control).run()

    return trainer_events


async def measure(kind: str, epochs: int, every: int) -> tuple[list[tuple[int, float, float]], dict[str, int]]:
    """(epoch, python heap MiB, RSS MiB) every ``every`` epochs, and the points the charts hold at the end."""
    app = MnistApp(source_for(kind, epochs), stats_reader=lambda device: DeviceStats())
    samples: list[tuple[int, float, float]] = []
    process = psutil.Process()
    async with app.run_test(size=(120, 40)) as pilot:
        next_epoch = every
        while not app.trainer_done or app.finished is None:
            await pilot.pause(0.05)
            epoch = app.status.epoch if app.run_started else 0
            if epoch > next_epoch or (app.finished is not None and next_epoch <= epochs):
                gc.collect()
                heap = tracemalloc.get_traced_memory()[0] / 2**20
                samples.append((min(epoch - 1, epochs) if app.finished is None else epochs, heap, process.memory_info().rss / 2**20))
                print(f"epoch {samples[-1][0]:>4}: python heap {heap:7.1f} MiB · RSS {samples[-1][2]:7.1f} MiB", flush=True)
                next_epoch += every
        series = {"loss (raw)": len(app.loss_chart.raw), "accuracy": len(app.accuracy_chart.accuracy)}
        print(f"chart points held: {series} (capacity 2000 each)")
    return samples, series


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", choices=("trainer", "demo"), default="trainer")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--every", type=int, default=10)
    args = p.parse_args()
    tracemalloc.start()
    samples, _ = asyncio.run(measure(args.source, args.epochs, args.every))
    first, last = samples[0], samples[-1]
    print(
        f"from epoch {first[0]} to {last[0]}: python heap {last[1] - first[1]:+.1f} MiB, RSS {last[2] - first[2]:+.1f} MiB"
    )


if __name__ == "__main__":
    main()
