"""Candidate recipes for a preset, each over seeds, on one device: final test accuracy and training time.

    python benchmarks/explore_recipes.py [--preset best] [--device cuda] [--seeds 0,1,2] [--only NAME,...]
                                         [--deadline SECONDS]

Each candidate is the preset with some settings changed (network, epochs or steps, batch size, lr); every run
trains on all 60,000 images and keeps its final weights, as the fast and best presets do. The runs go candidate by
candidate, seed by seed, and no new run starts after --deadline seconds. On a GPU a run takes seconds: this is
where recipes are explored before the winner is confirmed on a CPU (bench_best.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mnist_tui.config as config_mod  # noqa: E402
from mnist_tui.config import preset_config  # noqa: E402
from mnist_tui.engine import events as ev  # noqa: E402
from mnist_tui.engine.models import MODELS, LeanNet, QuickNet, conv_bn, conv_pool_bn  # noqa: E402
from mnist_tui.runs.start import make_trainer  # noqa: E402
from torch import nn  # noqa: E402


class LeanBestNet(nn.Sequential):
    """A candidate for the best preset, which lost (99.60-99.67% mean on a GPU): a wider LeanNet, the digit folded
    to 4x14x14 first, then two 3x3 conv-BN-ReLU blocks of ``width`` channels at 14x14 and two of ``2 * width`` at
    7x7, dropout and a linear head. Like BestNet's blocks, without the layer at 28x28 that costs a CPU most.
    """

    def __init__(self, num_classes: int = 10, width: int = 48, dropout: float = 0.25) -> None:
        wide = 2 * width
        super().__init__(
            nn.PixelUnshuffle(2),  # 4 x 14x14
            *conv_bn(4, width),
            *conv_bn(width, width),
            nn.MaxPool2d(2),  # 7x7
            *conv_bn(width, wide),
            *conv_bn(wide, wide),
            nn.MaxPool2d(2),  # 3x3
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(wide * 3 * 3, num_classes),
        )


class LeanStrideNet(nn.Sequential):
    """A candidate for the fast preset: LeanNet's first block as a stride-2 convolution (straight to 7x7, no
    max-pool), and its last block's max-pool before the batch norm."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = (32, 48, 64)) -> None:
        c1, c2, c3 = widths
        super().__init__(
            nn.PixelUnshuffle(2), *conv_bn(4, c1, stride=2), *conv_bn(c1, c2),
            *conv_pool_bn(c2, c3), nn.Flatten(), nn.Linear(c3 * 9, num_classes),
        )


class LeanU4Net(nn.Sequential):
    """A candidate for the fast preset: the digit folded to 16x7x7 (each 4x4 block as 16 values), three 3x3
    convolutions at 7x7, the last max-pooled before its batch norm."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = (32, 48, 64)) -> None:
        c1, c2, c3 = widths
        super().__init__(
            nn.PixelUnshuffle(4), *conv_bn(16, c1), *conv_bn(c1, c2),
            *conv_pool_bn(c2, c3), nn.Flatten(), nn.Linear(c3 * 9, num_classes),
        )


NETWORKS = {  # candidate networks, by name, for the config to accept
    "quick-32-48-80": partial(QuickNet, widths=(32, 48, 80)),
    "quick-32-64-64": partial(QuickNet, widths=(32, 64, 64)),
    "lean-stride": LeanStrideNet,
    "lean-u4": LeanU4Net,
    "lean-best-32": partial(LeanBestNet, width=32),
    "lean-best-48": partial(LeanBestNet, width=48),
    "lean-best-64": partial(LeanBestNet, width=64),
    "lean-24-40-56": partial(LeanNet, widths=(24, 40, 56)),
    "lean-24-32-48": partial(LeanNet, widths=(24, 32, 48)),
    "lean-32-48-48": partial(LeanNet, widths=(32, 48, 48)),
}
for _name, _build in NETWORKS.items():
    MODELS.setdefault(_name, _build)
config_mod.MODEL_NAMES = tuple(dict.fromkeys((*config_mod.MODEL_NAMES, *NETWORKS)))

# The fast preset's second recipe (LeanNet, 280 steps at lr 2e-2, no label smoothing): the candidates below are
# changes to it, and the preset as it is now ("fast") is the one they led to.
LEAN = {"model": "lean", "epochs": 2, "max_steps": 280, "lr": 2e-2, "label_smoothing": 0.0}
FAST: dict[str, dict] = {  # name: the fast preset's settings changed
    "fast": {},  # the preset as it is: QuickNet, one epoch at lr 3e-2, label smoothing 0.1
    "fast-lean": LEAN,
    # "pool": QuickNet, LeanNet with each max-pool before its batch norm
    "fast-pool": {**LEAN, "model": "quick"},
    "fast-pool-80": {**LEAN, "model": "quick-32-48-80"},
    "fast-pool-64": {**LEAN, "model": "quick-32-64-64"},
    "fast-pool-lr3": {**LEAN, "model": "quick", "lr": 3e-2},
    "fast-pool-lr15": {**LEAN, "model": "quick", "lr": 1.5e-2},
    "fast-pool-ls": {**LEAN, "model": "quick", "label_smoothing": 0.1},
    "fast-pool-ls-235": {**LEAN, "model": "quick", "label_smoothing": 0.1, "max_steps": 235},
    "fast-pool-ls-200": {**LEAN, "model": "quick", "label_smoothing": 0.1, "max_steps": 200},
    "fast-pool-ls-200-lr3": {**LEAN, "model": "quick", "label_smoothing": 0.1, "max_steps": 200, "lr": 3e-2},
    "fast-pool-ls-170": {**LEAN, "model": "quick", "label_smoothing": 0.1, "max_steps": 170},
    "fast-pool-ls-220-lr3": {**LEAN, "model": "quick", "label_smoothing": 0.1, "max_steps": 220, "lr": 3e-2},
    "fast-pool-ls-235-lr3": {**LEAN, "model": "quick", "label_smoothing": 0.1, "max_steps": 235, "lr": 3e-2},
    "fast-pool-ls-200-lr4": {**LEAN, "model": "quick", "label_smoothing": 0.1, "max_steps": 200, "lr": 4e-2},
    "fast-pool80-ls-200-lr3": {**LEAN, "model": "quick-32-48-80", "label_smoothing": 0.1, "max_steps": 200, "lr": 3e-2},
    "fast-stride": {**LEAN, "model": "lean-stride"},
    "fast-u4": {**LEAN, "model": "lean-u4"},
    "fast-240": {**LEAN, "max_steps": 240},
    "fast-240-lr3": {**LEAN, "max_steps": 240, "lr": 3e-2},
    "fast-b512-140": {**LEAN, "max_steps": 140, "batch_size": 512, "lr": 3e-2},
    "fast-b384-160": {**LEAN, "max_steps": 160, "batch_size": 384, "lr": 2.5e-2},
    "fast-24-40-56": {**LEAN, "model": "lean-24-40-56"},
    "fast-24-32-48": {**LEAN, "model": "lean-24-32-48"},
    "fast-32-48-48": {**LEAN, "model": "lean-32-48-48"},
    "fast-24-40-56-240": {**LEAN, "model": "lean-24-40-56", "max_steps": 240},
    "fast-b512-120": {**LEAN, "max_steps": 120, "batch_size": 512, "lr": 3e-2},
    "fast-220-lr3": {**LEAN, "max_steps": 220, "lr": 3e-2},
    "fast-240-lr4": {**LEAN, "max_steps": 240, "lr": 4e-2},
    "fast-24-40-56-lr3": {**LEAN, "model": "lean-24-40-56", "lr": 3e-2},
}
B128 = {"batch_size": 128, "lr": 3e-3}  # the best preset's earlier batch size and lr
BEST: dict[str, dict] = {  # name: the best preset's settings changed (each says its epochs, batch size and lr)
    "best": {},  # the preset as it is: 8 epochs at batch 256, lr 6e-3 (tried as best-b256-e8-lr6)
    "best-20": {"epochs": 20, **B128},  # the preset's earlier recipe
    "lean48-b256-e12": {"model": "lean-best-48", "epochs": 12, "batch_size": 256, "lr": 4e-3},
    "lean48-b128-e10": {"model": "lean-best-48", "epochs": 10, **B128},
    "lean32-b256-e20": {"model": "lean-best-32", "epochs": 20, "batch_size": 256, "lr": 4e-3},
    "lean64-b256-e9": {"model": "lean-best-64", "epochs": 9, "batch_size": 256, "lr": 4e-3},
    "best-b128-e6": {"epochs": 6, **B128},
    "best-b128-e7": {"epochs": 7, **B128},
    "best-b128-e8": {"epochs": 8, **B128},
    "best-b256-e8": {"epochs": 8, "batch_size": 256, "lr": 4e-3},
    "best-b128-e10": {"epochs": 10, **B128},
    "best-b256-e9": {"epochs": 9, "batch_size": 256, "lr": 4e-3},
    "best-b256-e8-lr6": {"epochs": 8, "batch_size": 256, "lr": 6e-3},
    "lean48-b256-e16": {"model": "lean-best-48", "epochs": 16, "batch_size": 256, "lr": 4e-3},
    "lean32-b256-e30": {"model": "lean-best-32", "epochs": 30, "batch_size": 256, "lr": 4e-3},
}


CANDIDATES = {"fast": FAST, "best": BEST}


def run(preset: str, name: str, seed: int, device: str, amp: str) -> dict:
    cfg = preset_config(preset, seed=seed, device=device, amp=amp, run_dir=tempfile.mkdtemp(prefix="explore-") + "/r",
                        **CANDIDATES[preset][name])
    start = None
    for event in make_trainer(cfg).run():
        if isinstance(event, ev.RunStarted):
            start = time.perf_counter()
        elif isinstance(event, ev.RunFinished):
            if event.reason != ev.Reason.COMPLETED:
                raise SystemExit(f"{name} seed {seed}: {event.reason}: {event.message}")
            return {"name": name, "seed": seed, "final": event.final_accuracy, "seconds": time.perf_counter() - start}
    raise SystemExit(f"{name} seed {seed}: no result")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="best", choices=list(CANDIDATES))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--only", help="comma-separated candidate names (default: all, in order)")
    ap.add_argument("--amp", default="off", help="off: float32, as on a CPU (default)")
    ap.add_argument("--deadline", type=float, default=1e9, help="start no run after this many seconds")
    ap.add_argument("--jsonl", type=Path, help="append each run's result here")
    args = ap.parse_args()
    candidates = CANDIDATES[args.preset]
    names = args.only.split(",") if args.only else list(candidates)
    seeds = [int(s) for s in args.seeds.split(",")]
    began, results = time.monotonic(), {}
    for name in names:
        for seed in seeds:
            if time.monotonic() - began > args.deadline:
                print(f"deadline: {name} seed {seed} and after not run", flush=True)
                break
            r = run(args.preset, name, seed, args.device, args.amp)
            results.setdefault(name, []).append(r)
            print(f"{name:18} seed {seed}  {r['final']:.2%}  {r['seconds']:.1f} s", flush=True)
            if args.jsonl:
                with args.jsonl.open("a") as f:
                    f.write(json.dumps(r) + "\n")
    print()
    for name, rs in results.items():
        finals = [r["final"] for r in rs]
        print(f"{name:18} mean {statistics.mean(finals):.3%}  min {min(finals):.2%}  over {len(rs)} seeds; "
              f"mean {statistics.mean(r['seconds'] for r in rs):.1f} s  {candidates[name]}")


if __name__ == "__main__":
    main()
