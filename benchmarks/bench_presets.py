"""Each preset, trained in full, per seed: images/s, seconds per epoch, time to 99.0%, final test accuracy.

    python benchmarks/bench_presets.py [--presets fast-1epoch,fast] [--seeds 0,1,2,3,4] [--device cpu] [--as-configured]

The presets alternate seed by seed (A B A B ...: seed 0 of each, then seed 1 of each), so that a machine that
slows down or speeds up during the benchmark weighs on all of them alike; with two or more presets the last
lines give, per preset against the first, the median and the range of the per-seed ratios of training time
and of time to 99.0%. Besides the presets, the fast preset's earlier recipes can be measured against the current
one: ``fast-1epoch`` (FastNet, one epoch at lr 1e-2, an evaluation every 50 iterations) and ``fast-lean``
(LeanNet, 280 steps at lr 2e-2, an evaluation every 100).

Each run does the work the tutorial pipeline does (bench_all.py compares the two): it trains on all 60,000
training images (--val-split 0), with no early stopping and no restored best weights, and every scheduled
evaluation is of the full test set (every 50 iterations for the tutorial preset, and at each epoch end). The
fast and best presets are like that already; the tutorial preset otherwise holds out a validation set and
decides on it. --as-configured runs each preset as it is instead (its scheduled evaluations are then of the
validation set, and time to 99.0% counts only the test evaluations, at each epoch end).

Time to 99.0% is the training wall time (evaluations included, data loading excluded) until the first
full test-set evaluation at or above 99.0%. Final accuracy is the test accuracy of the weights the run ends
with. Run `bench_tutorial.py` beside it for the tutorial's own pipeline on the same machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnist_tui.config import preset_config  # noqa: E402
from mnist_tui.engine import events as ev  # noqa: E402
from mnist_tui.runs.start import make_trainer  # noqa: E402

TARGET = 0.99
RECIPES = {  # name: (preset, overrides): earlier recipes to compare against, by name
    "fast-1epoch": ("fast", {"model": "fast", "epochs": 1, "max_steps": None, "lr": 1e-2, "eval_every": 50,
                             "label_smoothing": 0.0}),
    "fast-lean": ("fast", {"model": "lean", "epochs": 2, "max_steps": 280, "lr": 2e-2, "label_smoothing": 0.0}),
}


def ratio_summary(ratios: Iterable[float], what: str, over: str) -> str | None:
    """``"1.92x shorter (median of 5 seeds, range 1.42-2.42x)"``: side-by-side ratios as the benchmarks quote
    them; None when there are none."""
    ratios = sorted(ratios)
    if not ratios:
        return None
    return f"{statistics.median(ratios):.2f}x {what} (median of {len(ratios)} {over}, range {ratios[0]:.2f}-{ratios[-1]:.2f}x)"


def run_preset(
    preset: str,
    seed: int,
    device: str,
    epochs: int | None,
    *,
    amp: str = "auto",
    compile_mode: str = "off",
    cuda_graphs: str = "auto",
    max_steps: int | None = None,
    like_tutorial: bool = True,
) -> dict:
    """One run of ``preset``; with ``like_tutorial``, doing the tutorial pipeline's work (see the top)."""
    overrides = {"seed": seed, "device": device, "run_dir": tempfile.mkdtemp(prefix="bench-") + "/run"}
    overrides.update(amp=amp, compile=compile_mode, cuda_graphs=cuda_graphs)
    if like_tutorial:  # all 60,000 to train on, the test set at every evaluation, nothing decided
        overrides.update(val_split=0, early_stopping={"enabled": False, "restore_best": False})
    if epochs:
        overrides["epochs"] = epochs
    if max_steps:
        overrides["max_steps"] = max_steps
    name, recipe = RECIPES.get(preset, (preset, {}))
    cfg = preset_config(name, **{**recipe, **overrides})
    start = t_target = None
    images = 0
    eval_seconds = 0.0
    for event in make_trainer(cfg).run():
        if isinstance(event, ev.RunStarted):
            start, device_name = time.perf_counter(), f"{event.device} ({event.device_name})"
            steps_per_epoch = event.steps_per_epoch
        elif isinstance(event, ev.StepMetrics):
            images = event.iteration * cfg.batch_size
        elif isinstance(event, ev.Evaluation) and event.weights_from is None:
            eval_seconds += event.seconds  # validation or test: not training time
            if t_target is None and event.split == ev.TEST and event.accuracy >= TARGET:
                t_target = time.perf_counter() - start
        elif isinstance(event, ev.RunFinished):
            if event.reason not in (ev.Reason.COMPLETED, ev.Reason.EARLY_STOP):
                raise SystemExit(f"{preset} seed {seed}: {event.reason}: {event.message}")
            wall = time.perf_counter() - start
            return {
                "preset": preset,
                "seed": seed,
                "epochs": round(event.iteration / steps_per_epoch, 2),  # 280 steps of 235: 1.19
                "images/s": images / max(wall - eval_seconds, 1e-9),
                "s/epoch": wall * steps_per_epoch / max(event.iteration, 1),
                "t99": t_target,
                "final": event.final_accuracy,  # of the test set
                "wall": wall,
                "device": device_name,
            }
    raise SystemExit(f"{preset} seed {seed}: the run ended without a result")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default="fast")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--as-configured", action="store_true", help="each preset's own validation split and early stopping")
    args = p.parse_args()
    rows = []
    presets = args.presets.split(",")
    print(
        f"{'preset':<12} {'seed':>4} {'epochs':>6} {'images/s':>9} {'s/epoch':>8} {'t to 99%':>9} {'final':>7}  device"
    )
    for seed in (int(s) for s in args.seeds.split(",")):
        for preset in presets:  # alternating: seed 0 of each preset, then seed 1 of each, ...
            r = run_preset(preset, seed, args.device, args.epochs, like_tutorial=not args.as_configured)
            rows.append(r)
            t99 = "never" if r["t99"] is None else f"{r['t99']:.1f} s"
            print(
                f"{r['preset']:<12} {r['seed']:>4} {r['epochs']:>6} {r['images/s']:>9,.0f} {r['s/epoch']:>8.1f} "
                f"{t99:>9} {r['final']:>7.2%}  {r['device']}",
                flush=True,
            )
    print()
    for preset in presets:
        mine = [r for r in rows if r["preset"] == preset]
        finals = [r["final"] for r in mine]
        reached = [r["t99"] for r in mine if r["t99"] is not None]
        t99 = f"{statistics.median(reached):.1f} s" if reached else "never"
        print(
            f"{preset}: final test accuracy mean {statistics.mean(finals):.2%} "
            f"(min {min(finals):.2%}, max {max(finals):.2%})"
            f" over {len(mine)} seeds; reached 99.0% in {len(reached)}/{len(mine)}, median time to 99.0% {t99}; "
            f"median training time {statistics.median(r['wall'] for r in mine):.1f} s"
        )
    first = {r["seed"]: r for r in rows if r["preset"] == presets[0]}
    for preset in presets[1:]:
        pairs = [(first[r["seed"]], r) for r in rows if r["preset"] == preset and r["seed"] in first]
        for key, label in (("wall", "training time"), ("t99", "time to 99.0%")):
            summary = ratio_summary((a[key] / b[key] for a, b in pairs if a[key] and b[key]), "shorter", "seeds")
            if summary:
                print(f"{preset} against {presets[0]}, {label}: {summary}")

if __name__ == "__main__":
    main()
