"""The forward and backward pass as one CUDA graph: recorded once, replayed at every step.

The networks here are tiny, so on a GPU a step is bound by the cost of launching its ~60 kernels from
Python, not by arithmetic. Replaying forward, loss and backward as one graph removes most of that cost
(benchmarks/gpu_step_probe.py measures the step several ways); the optimizer step stays outside, as one
fused Adam kernel with the schedule's lr and betas passed as plain numbers, so nothing that changes per
step is frozen into the graph.

What a graph needs, and how the trainer provides it:
- Fixed shapes and addresses: the pass reads its inputs from static tensors that each call copies into,
  and writes the gradients into static tensors that each call hands back to the parameters. A batch of
  another size (the last, short batch of an epoch) runs eagerly through the same function.
- No host synchronisation inside. The weight average (EMA) and augmentation stay outside too.
- A warm-up before the recording (lazy allocations, library handles). It runs for real, so what it
  changes (batch-norm statistics, the random generators) is put back after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch


class GraphedStep:
    """``step(*inputs)`` recorded as a CUDA graph; calling it copies the inputs in, replays, and leaves
    the gradients in each parameter's ``.grad`` for the optimizer step that follows.

    ``step`` must run forward, loss and backward and return the loss, with gradients starting from None
    (the caller's eager path calls ``optimizer.zero_grad(set_to_none=True)`` first).
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
            # Off CUDA only the warm-up and its undoing run (what the CPU tests reach).
            side = torch.cuda.Stream(device) if device.type == "cuda" else None
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
            self.params_grads = [(p, p.grad) for p in model.parameters() if p.grad is not None]
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
        for p, grad in self.params_grads:
            if p.grad is not grad:  # an eager step in between gave the parameter other tensors
                p.grad = grad
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
