"""One table, one run: the tutorial's own pipeline and the mnist-tui engine with each preset, side by side.

The pipelines alternate seed by seed (the tutorial pipeline with seed 0, each preset with seed 0, then seed 1,
...), and each ratio against the tutorial pipeline is the median, with its range, of the ratios of runs of the
same seed taken next to each other: a machine whose speed drifts during the benchmark weighs on both alike.

    python benchmarks/bench_all.py [--device cpu] [--seeds 0,1,2,3,4] [--presets tutorial,fast]
                                   [--tutorial-epochs 10] [--to-target] [--amp auto] [--compile off]
                                   [--cuda-graphs auto]

Columns: training images/s (evaluations excluded), seconds per epoch with its evaluations, time to 99.0%
(training wall time with evaluations, from the first step to the first full test-set evaluation at or
above 99.0%; loading excluded), final test accuracy (the weights each run ends with), and the device.

So that both compute the same work, the engine's runs train on all 60,000 training images (--val-split 0)
with early stopping and restore-best off, evaluating the full test set every 50 iterations (the tutorial
preset) and at each epoch end, as the tutorial pipeline does (bench_presets.run_preset, like_tutorial). The
tutorial preset as configured holds out 5,000 images for validation and stops early on them; this table
does not measure that.

The tutorial pipeline is the tutorial's loop as written (torchvision MNIST, ToTensor + Normalize through a
DataLoader, batch 100, Adam 3e-4 / 1e-3, the tutorial network, a full test-set evaluation every 50
iterations in train mode with autograd on), seeded with each seed. ``--to-target`` ends each tutorial run
at its first evaluation at or above 99.0% (its final accuracy is then that evaluation's), to save time.

On a GPU the first run in a process pays for CUDA context creation, cuDNN autotuning and any compilation:
one untimed warm-up run of each pipeline goes first, and its wall time is reported on its own line.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_presets import ratio_summary, run_preset  # noqa: E402

from mnist_tui.engine import data as data_mod  # noqa: E402
from mnist_tui.engine.device import device_name, resolve_device  # noqa: E402
from mnist_tui.engine.models import TutorialNet  # noqa: E402

TARGET = 0.99
EVAL_EVERY = 50


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tutorial_run(raw: Path, device: torch.device, seed: int, epochs: int, to_target: bool, max_steps: int = 0) -> dict:
    """The tutorial's loop as written, timed the same way as the engine's runs."""
    import torchvision
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    train_set = torchvision.datasets.MNIST(raw, train=True, transform=transform, download=False)
    test_set = torchvision.datasets.MNIST(raw, train=False, transform=transform, download=False)
    torch.manual_seed(seed)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=100, shuffle=False)
    model = TutorialNet().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=1e-3)

    iteration, eval_seconds, accuracy, t_target = 0, 0.0, float("nan"), None
    _sync(device)
    start = time.perf_counter()
    done = False
    for _ in range(epochs):
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            loss = criterion(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            iteration += 1
            if iteration % EVAL_EVERY == 0 or iteration % len(train_loader) == 0:
                t = time.perf_counter()
                correct = total = 0
                for images, labels in test_loader:  # the tutorial evaluates in train mode, autograd on
                    images, labels = images.to(device), labels.to(device)
                    _, predicted = torch.max(model(images).data, 1)
                    total += labels.size(0)
                    correct += (predicted == labels).sum().item()
                accuracy = correct / total
                eval_seconds += time.perf_counter() - t
                if t_target is None and accuracy >= TARGET:
                    t_target = time.perf_counter() - start
                    done = to_target
            if done or (max_steps and iteration >= max_steps):
                break
        if done or (max_steps and iteration >= max_steps):
            break
    _sync(device)
    wall = time.perf_counter() - start
    epochs_done = iteration / len(train_loader)
    return {
        "name": "tutorial pipeline",
        "seed": seed,
        "images/s": iteration * 100 / max(wall - eval_seconds, 1e-9),
        "s/epoch": wall / epochs_done,
        "t99": t_target,
        "final": accuracy,
        "epochs": epochs_done,
        "wall": wall,
    }


def engine_run(preset: str, seed: int, device: str, epochs: int | None, options: dict) -> dict:
    r = run_preset(preset, seed, device, epochs, **options)
    return {
        "name": f"engine, preset {preset}",
        "seed": seed,
        "images/s": r["images/s"],
        "s/epoch": r["s/epoch"],
        "t99": r["t99"],
        "final": r["final"],
        "epochs": r["epochs"],
        "wall": r["wall"],
    }


def row(r: dict) -> str:
    t99 = "never" if r["t99"] is None else f"{r['t99']:.2f} s"
    return (
        f"| {r['name']} | {r['seed']} | {r['epochs']:.2f} | {r['images/s']:,.0f} | {r['s/epoch']:.2f} | {t99} | "
        f"{r['final']:.2%} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--seeds", default="0")
    p.add_argument("--presets", default="tutorial,fast", help="engine presets, comma-separated (empty: none)")
    p.add_argument("--tutorial-seeds", help="seeds for the tutorial pipeline (default: --seeds)")
    p.add_argument("--tutorial-epochs", type=int, default=10)
    p.add_argument("--to-target", action="store_true", help="end each tutorial pipeline run at 99.0%%")
    p.add_argument("--no-tutorial", action="store_true", help="skip the tutorial pipeline")
    p.add_argument("--epochs", type=int, help="override the presets' epochs")
    p.add_argument("--amp", default="auto", help="the engine's --amp (default: auto)")
    p.add_argument("--compile", default="off", help="the engine's --compile (default: off)")
    p.add_argument("--cuda-graphs", default="auto", help="the engine's --cuda-graphs (default: auto)")
    p.add_argument("--warmup", choices=("auto", "on", "off"), default="auto", help="untimed warm-up runs (auto: on GPUs)")
    args = p.parse_args()
    device = resolve_device(args.device)
    seeds = [int(s) for s in args.seeds.split(",")]
    tutorial_seeds = [int(s) for s in (args.tutorial_seeds or args.seeds).split(",")]
    presets = [x for x in args.presets.split(",") if x]
    warmup = args.warmup == "on" or (args.warmup == "auto" and device.type != "cpu")

    resolved = data_mod.resolve("mnist", None, log=lambda m: None, allow_download=True)
    root = Path(tempfile.mkdtemp(prefix="bench-mnist-"))
    (root / "MNIST" / "raw").mkdir(parents=True)
    for path in resolved.files.values():  # the files torchvision's MNIST reads, for the tutorial pipeline
        target = root / "MNIST" / "raw" / path.name.removesuffix(".gz")
        if path.suffix == ".gz":
            target.write_bytes(gzip.decompress(path.read_bytes()))
        else:
            os.symlink(path, target)

    print(f"device: {device} ({device_name(device)}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    options = {"amp": args.amp, "compile_mode": args.compile, "cuda_graphs": args.cuda_graphs}
    print(f"engine options: --amp {args.amp} --compile {args.compile} --cuda-graphs {args.cuda_graphs}")
    if warmup:
        t = time.perf_counter()
        if not args.no_tutorial:
            tutorial_run(root, device, 0, 1, False, max_steps=100)
        print(f"warm-up: tutorial pipeline 100 steps, {time.perf_counter() - t:.2f} s", flush=True)
        for preset in presets:
            t = time.perf_counter()
            run_preset(preset, 0, str(device), None, max_steps=60, **options)
            print(f"warm-up: engine preset {preset}, 60 steps, {time.perf_counter() - t:.2f} s", flush=True)
    print()
    print("| pipeline | seed | epochs | images/s | s/epoch | time to 99.0% | final accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    rows = []
    for seed in dict.fromkeys(tutorial_seeds + seeds):  # alternating: each pipeline with seed 0, then seed 1, ...
        if not args.no_tutorial and seed in tutorial_seeds:
            rows.append(tutorial_run(root, device, seed, args.tutorial_epochs, args.to_target))
            print(row(rows[-1]), flush=True)
        for preset in presets if seed in seeds else ():
            rows.append(engine_run(preset, seed, str(device), args.epochs, options))
            print(row(rows[-1]), flush=True)
    print()
    print("means:")
    for name in dict.fromkeys(r["name"] for r in rows):
        mine = [r for r in rows if r["name"] == name]
        reached = [r["t99"] for r in mine if r["t99"] is not None]
        t99 = f"{statistics.mean(reached):.2f} s ({len(reached)}/{len(mine)} reach 99.0%)" if reached else "never"
        print(
            f"  {name}: {statistics.mean(r['images/s'] for r in mine):,.0f} images/s, "
            f"{statistics.mean(r['s/epoch'] for r in mine):.2f} s/epoch, time to 99.0% {t99}, "
            f"final {statistics.mean(r['final'] for r in mine):.2%}"
        )
    base = {r["seed"]: r for r in rows if r["name"] == "tutorial pipeline"}
    for name in dict.fromkeys(r["name"] for r in rows if r["name"] != "tutorial pipeline"):
        # Ratios of runs of the same seed, taken next to each other: their median and range.
        pairs = [(base[r["seed"]], r) for r in rows if r["name"] == name and r["seed"] in base]
        for key, what in (("s/epoch", "faster per epoch"), ("t99", "shorter time to 99.0%")):
            ratios = (b[key] / r[key] for b, r in pairs if b[key] and r[key])
            summary = ratio_summary(ratios, what, "side-by-side pairs")
            if summary:
                print(f"  {name} against the tutorial pipeline: {summary}")
    print(f"device: {device} ({device_name(device)})")


if __name__ == "__main__":
    main()
