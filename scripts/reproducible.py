"""Whether a seeded CPU run computes the same numbers whatever else trains beside it, before or after an
interruption.

    python scripts/reproducible.py [--dataset DIR|mnist] [--epochs 40]

Trains one seed through the command line (``mnist-tui --headless --device cpu``), its threads chosen by the run
itself (no OMP_NUM_THREADS, no --threads), in four ways:

  alone     the reference; its config.json records the threads it chose
  beside    another run (another seed) starts while it trains and is stopped while it trains
  fixed     --threads as the reference recorded, started while another run trains
  resumed   interrupted (SIGTERM) and resumed twice, the first resume while another run trains

and prints, per case, whether every step's training loss and every evaluation (every 4 steps and at each epoch
end) are identical to the lone run's, bit for bit. Exit code 1 if any differ. The runs are counted among
themselves only (a claims directory of their own, see mnist_tui/engine/cpu_share.py). Without --dataset it
trains on a small synthetic set in the real MNIST file format (tests/helpers/synthetic.py): a couple of minutes
on 2 cores. The check itself is tests/helpers/reproducible.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.reproducible import run_check


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="a data set name or directory (default: a synthetic set made here)")
    p.add_argument("--epochs", type=int, default=40, help="epochs of each run (default: 40)")
    args = p.parse_args()
    if args.epochs < 3:
        p.error("--epochs must be at least 3 (the run is interrupted at a third and at two thirds)")
    base = Path(tempfile.mkdtemp(prefix="reproducible-"))
    dataset = args.dataset
    if dataset is None:
        from helpers.synthetic import write_dataset

        dataset = str(write_dataset(base / "data", n_train=600, n_test=200))
    print(f"runs in {base}")
    try:
        results = run_check(dataset, base, args.epochs, report=lambda line: print(line, flush=True))
    except RuntimeError as exc:
        print(f"reproducible: {exc}", file=sys.stderr)
        return 1
    same = sum(not problems for problems in results.values())
    print(f"{same} of {len(results)} cases identical to the lone run in every loss and every evaluation")
    return 0 if same == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
