"""The training engine: pure PyTorch, no UI, no sockets, no processes (see docs/architecture.md).

``models`` (networks), ``data`` (finding, checking and loading data sets), ``split`` (the validation split),
``preprocess`` (digits to tensors), ``digitize`` (any image to an MNIST-style digit), ``trainer`` (the loop,
as a generator of ``events``) with ``state`` (what a checkpoint keeps), ``device_data`` (the sets on the
device), ``step_metrics``, ``previews`` and ``evaluation``; ``control`` (pause/resume/stop/save from another
thread), ``early_stopping``, ``augment``, ``graphs`` (CUDA graphs), ``device``, ``analysis`` (what an
evaluation gets wrong), ``ensemble``, ``predictor`` and ``attribution`` (trying the model on one digit),
``latest_weights``, ``checkpoints``, ``files`` (safe writes), and ``output`` (the protocol the trainer writes
its record through; the run directory in ``mnist_tui.runs`` implements it).
"""
