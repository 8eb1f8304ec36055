"""A run's speed options, as asked for and as the device allows: bf16 autocast, ``torch.compile`` (compiled
at set-up by one warm-up step that leaves no trace) and the training step recorded as a CUDA graph at the
first full batch (graphs.py). Which options a device allows, and the words that say so, are in device.py.

``SpeedOptions`` is a part of ``Trainer`` (trainer.py), kept here so that trainer.py is the loop: it sets
``amp_dtype``, ``train_model`` (what the loop calls: the model, or its compiled form), ``graphs`` (whether to
record) and ``graph`` (the recording, once made), and sends its events through the trainer's ``_emit``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from .device import autocast_dtype, compile_model, use_cuda_graphs
from .device_data import DeviceData
from .events import Event, Log, RunState, StateChanged
from .graphs import GraphedStep, UndoWarmUp
from .state import Learner


class SpeedOptions:
    # What the trainer's set-up has made by the time it calls _speed_options (trainer_setup.py).
    config: TrainConfig
    device: torch.device
    learner: Learner
    data: DeviceData | None
    _emit: Callable[[Event], Iterator[Event]]

    def _speed_options(self) -> Iterator[Event]:
        """bf16 autocast, torch.compile and CUDA graphs, as asked for and as the device allows."""
        cfg, device = self.config, self.device
        self.amp_dtype, note = autocast_dtype(device, cfg.amp)
        if note:
            yield from self._emit(Log(note, "warning"))
        self.train_model = yield from self._compile()  # what the loop calls: the model, or its compiled form
        self.graphs, note = use_cuda_graphs(device, cfg.cuda_graphs, cfg.compile)
        if note:
            yield from self._emit(Log(note, "warning"))
        self.graph: GraphedStep | None = None  # recorded at the first full batch

    def _compile(self) -> Generator[Event, None, torch.nn.Module]:
        mode, model = self.config.compile, self.learner.model
        if mode == "off":
            return model
        yield from self._emit(StateChanged(RunState.LOADING, f"compiling the model (--compile {mode})"))
        compiled, note = compile_model(model, mode, self._compile_warm_up)
        yield from self._emit(Log(note, "info" if compiled is not model else "warning"))
        return compiled

    def _compile_warm_up(self, compiled: torch.nn.Module) -> None:
        """Compile now (one forward and backward) and leave no trace: weights, buffers and RNG as they were."""
        undo = UndoWarmUp(self.learner.model, self.learner.optimizer, self.device)
        n = self.config.batch_size
        with self._autocast():
            loss = F.cross_entropy(compiled(self.data.train_x[:n]), self.data.train_y[:n])
        loss.backward()
        undo()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _record_step(self, step: Any, inputs: tuple[torch.Tensor, ...]) -> Iterator[Event]:
        started = time.monotonic()
        try:
            self.graph = GraphedStep(step, inputs, self.learner.model, self.learner.optimizer)
        except Exception as exc:
            self.graphs = False
            if isinstance(exc, torch.OutOfMemoryError):
                raise  # the run's own out-of-memory message, not a fallback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            yield from self._emit(
                Log(f"CUDA graph recording failed ({type(exc).__name__}: {first}); training without it", "warning")
            )
            return
        seconds = time.monotonic() - started
        yield from self._emit(Log(f"recorded the training step as a CUDA graph in {seconds:.2f} s (--cuda-graphs)"))
