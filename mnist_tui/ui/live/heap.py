"""The live app's Python heap, kept out of the UI thread's way.

A full collection of the cyclic garbage collector walks every tracked object, on whichever thread triggered it,
holding the GIL. In the app while a run trained on a busy 2-core CPU, full collections came every 2 to 5 s and
took 150-360 ms each: a key pressed then waited that long to show. Two things make them cheap and rare:

- torch, Textual and the data set leave several hundred thousand objects that live as long as the app. Once
  the run has started, ``settle`` collects once and freezes what is alive (``gc.freeze``): later collections
  walk only the objects made after it.
- The screen's own caches (Textual keeps rendered lines, each with caches of its own) then grow to a few hundred
  thousand objects too, and would be walked instead; so a full collection comes after 100 collections of the
  middle generation instead of 10 (``FULL_AFTER``). Cyclic garbage that lives that long is rare, and is still
  collected, a little later; the young generations are collected as before.
"""

from __future__ import annotations

import gc

FULL_AFTER = 100  # collections of generation 1 between two full collections (Python's default: 10)


def settle() -> None:
    """Collect once, leave every object alive now out of all later collections, and make full ones rarer."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER)
