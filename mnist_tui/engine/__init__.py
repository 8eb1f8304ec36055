"""The training engine: pure PyTorch, no UI, no sockets, no processes (see docs/architecture.md).

``models`` (networks), ``data`` (finding, checking and loading data sets), ``preprocess`` (digits to
tensors), ``trainer`` (the loop, as a generator of ``events``), ``control`` (pause/resume/stop/save from
another thread), ``early_stopping``, ``augment``, ``graphs`` (CUDA graphs), ``device``, ``analysis``
(what an evaluation gets wrong), ``ensemble``, ``checkpoints``, and ``output`` (the protocol the trainer
writes its record through; the run directory in ``mnist_tui.runs`` implements it).
"""
