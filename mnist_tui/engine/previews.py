"""The digits the screen shows: the first training digits (as fed, when augmented) and a strip of test
digits with the model's predictions. Plain bytes in ``Previews`` events; drawing them is the UI's job."""

from __future__ import annotations

N_TRAIN_PREVIEW = 40  # the tutorial shows the first 40 training digits
N_TEST_PREVIEW = 16  # a strip of test digits with the model's predictions
