"""The tutorial's own pipeline against the mnist-tui engine, side by side in one process.

Both train the same `tutorial` network with Adam (lr 3e-4, weight decay 1e-3), batch 100, and a full
test-set evaluation every 50 iterations. The tutorial pipeline is torchvision's MNIST dataset with
ToTensor + Normalize through a DataLoader (per-image PIL work), evaluated in train mode with autograd on,
as the tutorial does. The engine is `mnist_tui.engine.trainer.Trainer` as the app runs it, doing the same
work: it trains on all 60,000 training images (--val-split 0; the tutorial preset otherwise holds 5,000 out
for validation) with early stopping and restore-best off, so its scheduled evaluations are of the test set.

Each pipeline trains --steps iterations (default 300, half an epoch, 6 evaluations) after --warmup (50)
iterations, and the figures are scaled to one 600-step epoch with its 12 evaluations.

The pipelines alternate (A B A B ...) for --pairs rounds (default 3), so that a machine that slows down or
speeds up during the benchmark weighs on each alike; the table gives each pipeline's median, and the last
lines the median and the range of the per-round ratios of seconds per epoch against the first pipeline.

    python benchmarks/bench_tutorial.py [--device cpu] [--steps 300] [--pairs 3] [--pipelines tutorial,engine,engine-eager]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnist_tui.config import EarlyStoppingConfig, TrainConfig  # noqa: E402
from mnist_tui.engine import data as data_mod  # noqa: E402
from mnist_tui.engine import events as ev  # noqa: E402
from mnist_tui.engine.device import device_name, resolve_device  # noqa: E402
from mnist_tui.engine.models import TutorialNet  # noqa: E402
from mnist_tui.runs.start import make_trainer  # noqa: E402
from bench_presets import ratio_summary  # noqa: E402 (this folder is on sys.path when run as a script)

STEPS_PER_EPOCH = 600
EVAL_EVERY = 50


def tutorial_pipeline(raw_files: dict[str, Path], device: torch.device, steps: int, warmup: int) -> dict:
    """The tutorial's loop as written: DataLoader over PIL images, train-mode evaluation with autograd."""
    import torchvision
    from torchvision import transforms

    root = Path(tempfile.mkdtemp(prefix="bench-mnist-"))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for path in raw_files.values():  # torchvision's MNIST reads the uncompressed files
        if path.suffix == ".gz":
            (raw / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
        else:
            os.symlink(path, raw / path.name)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    train_set = torchvision.datasets.MNIST(root, train=True, transform=transform, download=False)
    test_set = torchvision.datasets.MNIST(root, train=False, transform=transform, download=False)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=100, shuffle=False)

    torch.manual_seed(0)
    model = TutorialNet().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=1e-3)
    eval_seconds = 0.0
    accuracy = float("nan")
    iteration = 0
    start = None
    while iteration < warmup + steps:
        for images, labels in train_loader:
            if iteration == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            loss = criterion(outputs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            iteration += 1
            if iteration % EVAL_EVERY == 0:
                t = time.perf_counter()
                correct = total = 0
                for images, labels in test_loader:  # the tutorial evaluates in train mode, autograd on
                    images, labels = images.to(device), labels.to(device)
                    outputs = model(images)
                    _, predicted = torch.max(outputs.data, 1)
                    total += labels.size(0)
                    correct += (predicted == labels).sum().item()
                accuracy = correct / total
                if iteration > warmup:
                    eval_seconds += time.perf_counter() - t
            if iteration >= warmup + steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return summarise("tutorial pipeline", steps, wall, eval_seconds, accuracy, device)


def engine_pipeline(
    dataset: str, data_dir: str | None, device: torch.device, steps: int, warmup: int, cuda_graphs: str = "auto"
) -> dict:
    cfg = TrainConfig(
        cuda_graphs=cuda_graphs,
        dataset=dataset,
        data_dir=data_dir,
        device=str(device),
        max_steps=warmup + steps,
        run_dir=tempfile.mkdtemp(prefix="bench-run-"),
        metrics_interval=0.25,
        # The tutorial pipeline's work: no validation split, nothing decided, the full test set every 50 steps.
        val_split=0,
        early_stopping=EarlyStoppingConfig(enabled=False, restore_best=False),
    )
    # Timed from the scheduled evaluation at iteration `warmup` to the one at `warmup + steps` (both multiples
    # of 50): exactly `steps` steps and `steps / 50` evaluations, as in the tutorial pipeline's window.
    start = end = None
    eval_seconds = 0.0
    accuracy = float("nan")
    for event in make_trainer(cfg).run():
        if isinstance(event, ev.Evaluation) and event.split == ev.TEST and event.weights_from is None:
            if event.iteration == warmup:
                start = time.perf_counter()
            elif start is not None and event.iteration <= warmup + steps:
                eval_seconds += event.seconds
                accuracy = event.accuracy
                if event.iteration == warmup + steps:
                    end = time.perf_counter()
        elif isinstance(event, ev.RunFinished) and event.reason != ev.Reason.COMPLETED:
            raise SystemExit(f"engine run ended with {event.reason}: {event.message}")
    if start is None or end is None:
        raise SystemExit(f"--warmup ({warmup}) and --steps ({steps}) must be multiples of {EVAL_EVERY}")
    wall = end - start
    name = "mnist-tui engine" + (" (eager)" if cuda_graphs == "off" and device.type == "cuda" else "")
    return summarise(name, steps, wall, eval_seconds, accuracy, device)


def summarise(name: str, steps: int, wall: float, eval_seconds: float, accuracy: float, device) -> dict:
    train_seconds = wall - eval_seconds
    evals = steps / EVAL_EVERY
    per_eval = eval_seconds / evals if evals else float("nan")
    epoch = train_seconds / steps * STEPS_PER_EPOCH + per_eval * (STEPS_PER_EPOCH / EVAL_EVERY)
    return {
        "pipeline": name,
        "images/s": steps * 100 / train_seconds,
        "s/eval": per_eval,
        "s/epoch": epoch,
        "accuracy": accuracy,
        "device": str(device),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=300, help="timed iterations per pipeline (default 300)")
    p.add_argument("--warmup", type=int, default=50, help="untimed iterations first, a multiple of 50 (default 50)")
    p.add_argument("--pipelines", default="tutorial,engine", help="tutorial, engine, engine-eager (no CUDA graphs)")
    p.add_argument("--pairs", type=int, default=3, help="alternating rounds of every pipeline (default 3)")
    p.add_argument("--data-dir")
    args = p.parse_args()
    device = resolve_device(args.device)
    resolved = data_mod.resolve("mnist", args.data_dir, log=lambda m: None)
    print(f"device: {device} ({device_name(device)}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    names = args.pipelines.split(",")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(1, args.pairs + 1):
        for name in names:  # alternating: each pipeline once per round
            if name == "tutorial":
                r = tutorial_pipeline(resolved.files, device, args.steps, args.warmup)
            elif name == "engine":
                r = engine_pipeline("mnist", args.data_dir, device, args.steps, args.warmup)
            elif name == "engine-eager":  # the engine with --cuda-graphs off: what the graphs are worth
                r = engine_pipeline("mnist", args.data_dir, device, args.steps, args.warmup, "off")
            else:
                raise SystemExit(f"unknown pipeline {name!r}: tutorial, engine or engine-eager")
            runs[name].append(r)
            print(f"  round {round_}: {r['pipeline']}: {r['s/epoch']:.1f} s/epoch", flush=True)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    base = names[0]
    print()
    print(f"{'pipeline':<20} {'images/s':>10} {'s/eval':>8} {'s/epoch':>9} {'speed-up':>9} {'accuracy':>9}  device")
    for name in names:
        r = runs[name][-1]
        print(
            f"{r['pipeline']:<20} {median(name, 'images/s'):>10,.0f} {median(name, 's/eval'):>8.2f} "
            f"{median(name, 's/epoch'):>9.1f} {median(base, 's/epoch') / median(name, 's/epoch'):>8.2f}x "
            f"{r['accuracy']:>9.2%}  {r['device']}"
        )
    print(f"\n(medians of {args.pairs} alternating rounds; s/epoch = 600 training steps + 12 full test-set evaluations,")
    print(f" from {args.steps} timed steps)")
    for name in names[1:]:
        ratios = (a["s/epoch"] / b["s/epoch"] for a, b in zip(runs[base], runs[name]))
        print(f"{name} against {base}: {ratio_summary(ratios, 'faster per epoch', 'rounds')}")

if __name__ == "__main__":
    main()
