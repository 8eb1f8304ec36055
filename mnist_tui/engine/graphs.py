"""The training step as one CUDA graph: recorded once, replayed at every step.

The networks here are tiny, so on a GPU a step is bound by the cost of launching its ~70 kernels from
Python, not by arithmetic. Replaying the step as one graph removes that cost: on an H100 a step of the
tutorial network took 4.6 ms eagerly and 0.94 ms as a graph (benchmarks/gpu_step_probe.py).

What a graph needs, and how the trainer provides it:
- Fixed shapes and addresses: the step reads its inputs from static tensors that each call copies into.
  A batch of another size (the last, short batch of an epoch) runs eagerly through the same function.
- No host synchronisation and no host values that change: Adam runs with ``capturable=True``, its
  learning rate and betas as tensors on the device, which the user's changes and schedules fill in place
  (``configure_adam``, ``set_lr``, ``step_schedule``: one-cycle moves beta1 too). The weight average (EMA)
  has a decay that changes per step, so it stays outside.
- A warm-up before the recording (lazy allocations, library handles). It trains for real, so everything
  it changes (weights, batch-norm statistics, Adam's state, the random generators) is put back after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch


def configure_adam(optimizer: torch.optim.Optimizer, device: torch.device, capturable: bool) -> None:
    """Ready ``optimizer`` for a recorded step (capturable, lr a device tensor) or an eager one (lr a float).

    Also what makes a checkpoint from either kind of run load into the other: the saved param groups
    carry the saving run's lr type and step counters' device.
    """

    def value(x: float | torch.Tensor) -> float | torch.Tensor:
        x = float(x)
        return torch.tensor(x, dtype=torch.float32, device=device) if capturable else x

    for group in optimizer.param_groups:
        group["capturable"] = capturable
        group["lr"] = value(group["lr"])
        group["betas"] = tuple(value(b) for b in group["betas"])
        for p in group["params"]:
            state = optimizer.state.get(p)
            if state and "step" in state:
                state["step"] = state["step"].to(device if capturable else "cpu", torch.float32)


def get_lr(optimizer: torch.optim.Optimizer) -> float:
    lr = optimizer.param_groups[0]["lr"]
    return float(lr)  # a device tensor in a recorded run: one host read, done a few times a second


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)  # in place: the recorded step reads this tensor
        else:
            group["lr"] = lr


def step_schedule(scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
    """``scheduler.step()``, with what it sets written into the tensors a recorded step reads.

    Schedulers fill a tensor lr in place, but one-cycle sets beta1 by replacing the betas tuple.
    """
    groups = scheduler.optimizer.param_groups
    before = [group.get("betas") for group in groups]
    scheduler.step()
    for group, old in zip(groups, before):
        new = group.get("betas")
        if old is None or new is old or not isinstance(old[0], torch.Tensor):
            continue
        for tensor, value in zip(old, new):
            if value is not tensor:
                tensor.fill_(float(value))  # a host float from the schedule: no sync
        group["betas"] = old


class GraphedStep:
    """``step(*inputs)`` recorded as a CUDA graph; calling it copies the inputs in and replays.

    ``step`` must run forward, backward and the optimizer step and return the loss, with gradients
    starting from None (the caller's eager path calls ``optimizer.zero_grad(set_to_none=True)`` first).
    """

    def __init__(
        self,
        step: Callable[..., torch.Tensor],
        example: tuple[torch.Tensor, ...],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        warmup: int = 3,
    ) -> None:
        device = example[0].device
        self.shapes = tuple(t.shape for t in example)
        self.inputs = tuple(t.clone() for t in example)
        undo = UndoWarmUp(model, optimizer, device)
        try:
            cuda = device.type == "cuda"  # else only the warm-up and its undoing run (what the CPU tests reach)
            side = torch.cuda.Stream(device) if cuda else None
            if side is not None:
                side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
                for _ in range(warmup):
                    optimizer.zero_grad(set_to_none=True)
                    step(*self.inputs)
            if side is not None:
                torch.cuda.current_stream(device).wait_stream(side)
            optimizer.zero_grad(set_to_none=True)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss = step(*self.inputs)
            # The gradients live in the graph's memory now; keep them referenced for as long as the graph.
            self.grads = [p.grad for p in model.parameters()]
        finally:
            undo()
        torch.cuda.synchronize(device)

    def fits(self, *inputs: torch.Tensor) -> bool:
        return tuple(t.shape for t in inputs) == self.shapes

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Replay on ``inputs``; the loss returned is the graph's own tensor, overwritten by the next call."""
        for static, value in zip(self.inputs, inputs):
            static.copy_(value)
        self.graph.replay()
        return self.loss


class UndoWarmUp:
    """What a warm-up changes, saved before it; calling puts it all back in place (same tensors)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
        self.model, self.optimizer, self.device = model, optimizer, device
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.adam = {
            p: {k: v.clone() for k, v in s.items() if isinstance(v, torch.Tensor)} for p, s in optimizer.state.items()
        }
        self.rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @torch.no_grad()
    def __call__(self) -> None:
        for k, v in self.model.state_dict().items():
            v.copy_(self.weights[k])
        for p, state in self.optimizer.state.items():
            saved = self.adam.get(p)
            for k, v in state.items():
                if not isinstance(v, torch.Tensor):
                    continue
                if saved and k in saved:
                    v.copy_(saved[k])
                else:
                    v.zero_()  # Adam had no state before the warm-up: zeros are where a fresh one starts
        self.optimizer.zero_grad(set_to_none=True)
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, self.device)
