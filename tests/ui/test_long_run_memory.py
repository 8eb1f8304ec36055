"""100 epochs in the app keep memory flat: the charts' history is bounded, nothing else piles up."""

from __future__ import annotations

import asyncio
import tracemalloc

from memory_long_run import measure


def test_a_hundred_epochs_at_the_tutorial_shape_keep_the_app_flat():
    """60,000 steps and 1,200 evaluations: the heap at epoch 100 is within 1.5 MiB of epoch 20.

    Unbounded, the raw loss history alone would grow by about 7 MiB over those 80 epochs.
    """
    tracemalloc.start()
    try:
        samples, series = asyncio.run(measure("demo", epochs=100, every=10))
    finally:
        tracemalloc.stop()
    assert series == {"loss (raw)": 2000, "accuracy": 1200}  # bounded (60,000 losses), and no evaluation lost
    heap = {epoch: mib for epoch, mib, _ in samples}
    at_20 = next(mib for epoch, mib in heap.items() if epoch >= 20)
    assert samples[-1][0] == 100
    assert samples[-1][1] - at_20 < 1.5, samples
