"""What the error snapshot adds to one full test-set evaluation.

Times the evaluation as it was before the snapshot (per-batch summed loss, correct count, preview) against
the engine's now (``analysis.predict`` + ``summarise`` + ``make_snapshot``), on the real test set with the
tutorial network, interleaved, twice: untrained (about 90% wrong: the list is capped at MAX_MISCLASSIFIED)
and after --train-steps training steps (a few hundred wrong).

    python benchmarks/bench_eval_snapshot.py [--device cpu] [--repeats 10] [--train-steps 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnist_tui.engine import data as data_mod  # noqa: E402
from mnist_tui.engine.analysis import make_snapshot, predict, summarise  # noqa: E402
from mnist_tui.engine.device import resolve_device  # noqa: E402
from mnist_tui.engine.models import TutorialNet  # noqa: E402
from mnist_tui.engine.preprocess import normalise  # noqa: E402


def before(model, x, y, batch, n_preview=16):
    """The evaluation as it was before the snapshot."""
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    preview = None
    with torch.inference_mode():
        for start in range(0, len(y), batch):
            logits = model(x[start : start + batch])
            target = y[start : start + batch]
            total_loss += F.cross_entropy(logits, target, reduction="sum")
            pred = logits.argmax(1)
            correct += (pred == target).sum()
            if preview is None:
                preview = pred[:n_preview]
    return total_loss.item() / len(y), int(correct.item()), tuple(preview.tolist())


def after(model, x, y, batch, images, n_preview=16):
    outcome = summarise(predict(model, x, batch), y, n_preview=n_preview)
    return make_snapshot(outcome, images, iteration=0, epoch=1, class_names=[str(i) for i in range(10)])


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(label, model, x, y, batch, images, device, repeats):
    model.eval()
    t_before, t_after, t_extra = [], [], []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        before(model, x, y, batch)
        t1 = time.perf_counter()
        snapshot = after(model, x, y, batch, images)
        t2 = time.perf_counter()
        logits = predict(model, x, batch)
        sync(device)
        t3 = time.perf_counter()
        make_snapshot(summarise(logits, y, n_preview=16), images, iteration=0, epoch=1, class_names="0123456789")
        t4 = time.perf_counter()
        t_before.append(t1 - t0)
        t_after.append(t2 - t1)
        t_extra.append(t4 - t3)
    b, a, e = statistics.median(t_before), statistics.median(t_after), statistics.median(t_extra)
    print(
        f"{label}: {snapshot.n_misclassified:,} wrong ({len(snapshot.misclassified):,} kept) | "
        f"evaluation before {b * 1e3:.1f} ms, now {a * 1e3:.1f} ms ({(a - b) * 1e3:+.1f} ms, {(a / b - 1):+.1%}) | "
        f"summarise + snapshot alone {e * 1e3:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--train-steps", type=int, default=300)
    args = parser.parse_args()
    device = resolve_device(args.device)
    _, arrays = data_mod.load("mnist")
    layout = torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format
    x = normalise(arrays.test_images.to(device)).contiguous(memory_format=layout)
    y = arrays.test_labels.to(device)
    batch = 10_000 if device.type != "cpu" else 1_000  # the trainer's choice
    torch.manual_seed(0)
    model = TutorialNet().to(device, memory_format=layout)
    print(f"device {device}, {torch.get_num_threads()} threads, eval batch {batch}, {args.repeats} repeats (median)")
    measure("untrained", model, x, y, batch, arrays.test_images, device, args.repeats)

    tx = normalise(arrays.train_images.to(device)).contiguous(memory_format=layout)
    ty = arrays.train_labels.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=1e-3)
    model.train()
    perm = torch.randperm(len(ty), device=device)
    for step in range(args.train_steps):
        idx = perm[step * 100 : (step + 1) * 100]
        loss = F.cross_entropy(model(tx[idx]), ty[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    measure(f"after {args.train_steps} steps", model, x, y, batch, arrays.test_images, device, args.repeats)


if __name__ == "__main__":
    main()
