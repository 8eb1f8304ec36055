"""The `best` preset, trained in full, one run per seed: a table of seed, epochs, final test accuracy, wall time.

    python benchmarks/bench_best.py [--seeds 0,1,2] [--device auto] [--epochs N] [--keep DIR] [--tta]

Final accuracy is the test accuracy of the weights the run ends with (the preset keeps the last EMA weights:
no validation split, no early stopping, no best epoch picked); the per-epoch curve is the test set's, at each
epoch end. Wall time runs from RunStarted (data loaded) to
RunFinished, the evaluation at each epoch end included. With --keep, each run directory is kept under DIR
(DIR/seed-N), ready for `mnist-tui ensemble`; with --tta the table adds each run's accuracy with test-time
augmentation, and the ensemble of all runs with and without it (these use the test set more than once:
the README keeps them apart from the single-model figures).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnist_tui.config import preset_config  # noqa: E402
from mnist_tui.engine import events as ev  # noqa: E402
from mnist_tui.runs.start import make_trainer  # noqa: E402


def run_best(seed: int, device: str, epochs: int | None, run_dir: Path, preset: str = "best") -> dict:
    overrides: dict = {"seed": seed, "device": device, "run_dir": str(run_dir)}
    if epochs:
        overrides["epochs"] = epochs
    cfg = preset_config(preset, **overrides)
    start = None
    per_epoch: list[float] = []
    for event in make_trainer(cfg).run():
        if isinstance(event, ev.RunStarted):
            start, device_name = (time.perf_counter(), f"{event.device} ({event.device_name}, {event.threads} threads)")
        elif isinstance(event, ev.Evaluation) and event.split == ev.TEST and event.weights_from is None:
            per_epoch.append(event.accuracy)
        elif isinstance(event, ev.RunFinished):
            if event.reason != ev.Reason.COMPLETED:
                raise SystemExit(f"seed {seed}: {event.reason}: {event.message}")
            return {
                "seed": seed,
                "epochs": event.epoch,
                "final": event.final_accuracy,  # of the test set
                "wall": time.perf_counter() - start,
                "device": device_name,
                "curve": per_epoch,
                "run_dir": run_dir,
            }
    raise SystemExit(f"seed {seed}: the run ended without a result")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="best")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--keep", type=Path, help="keep the run directories under this directory")
    p.add_argument("--tta", action="store_true", help="also evaluate with test-time augmentation and ensembles")
    args = p.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-best-"))
    rows = []
    print(f"{'seed':>4} {'epochs':>6} {'final':>7} {'wall':>8}  device", flush=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run_best(seed, args.device, args.epochs, base / f"seed-{seed}", args.preset)
        rows.append(r)
        curve = " ".join(f"{a:.2%}" for a in r["curve"])
        print(f"{r['seed']:>4} {r['epochs']:>6} {r['final']:>7.2%} {r['wall']:>7.0f}s  {r['device']}", flush=True)
        print(f"       per epoch: {curve}", flush=True)
    finals = [r["final"] for r in rows]
    spread = f", sd {statistics.stdev(finals):.3%}" if len(finals) > 1 else ""
    print(
        f"\n{args.preset}: final test accuracy mean {statistics.mean(finals):.3%} (min {min(finals):.2%}, "
        f"max {max(finals):.2%}{spread}) over {len(rows)} seeds; mean wall {statistics.mean(r['wall'] for r in rows):.0f} s"
        f" per run; run directories under {base}",
        flush=True,
    )
    if args.tta:
        from mnist_tui.cli.ensemble import members
        from mnist_tui.engine.ensemble import evaluate_runs

        for tta in (False, True):
            result = evaluate_runs(members([r["run_dir"] for r in rows]), device=args.device, tta=tta)
            label = "with TTA" if tta else "no TTA  "
            each = " ".join(f"{a:.2%}" for a in result.accuracies)
            print(f"{label}: each run {each}; ensemble of {len(rows)} (mean of softmax) {result.combined:.2%}")


if __name__ == "__main__":
    main()
