"""How long one training step of each network takes on this device, done several ways.

    python benchmarks/gpu_step_probe.py [--device cuda] [--steps 300] [--models tutorial,fast]

A measuring tool for choosing the engine's GPU path, not a product benchmark (that is bench_all.py).
For each network at its preset's batch size, on the real training digits already on the device, it times
``--steps`` steps after a warm-up and prints milliseconds per step for:

- eager: what the engine did before CUDA graphs (channels_last, foreach Adam, fp32)
- eager bf16: the same under bf16 autocast
- eager fused: fused Adam
- graph: the whole step (gather, forward, loss, backward, Adam) captured once as a CUDA graph and replayed
- graph bf16: the same under bf16 autocast
- compile r-o: torch.compile(mode="reduce-overhead") on the model, fused Adam (compile time apart)

and the time of one full test-set evaluation (10,000 digits, one batch). Graph variants need CUDA.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnist_tui.engine import data as data_mod  # noqa: E402
from mnist_tui.engine.device import device_name, resolve_device  # noqa: E402
from mnist_tui.engine.models import build_model  # noqa: E402
from mnist_tui.engine.preprocess import normalise  # noqa: E402

BATCH = {"tutorial": 100, "fast": 256, "best": 128}
LR = {"tutorial": 3e-4, "fast": 1e-2, "best": 3e-3}
WD = {"tutorial": 1e-3, "fast": 0.0, "best": 0.0}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def setup(name: str, device: torch.device, **adam):
    torch.manual_seed(0)
    model = build_model(name).to(device, memory_format=torch.channels_last)
    lr = adam.pop("tensor_lr", False)
    lr_value = torch.tensor(LR[name], device=device) if lr else LR[name]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr_value, weight_decay=WD[name], **adam)
    return model, optimizer


def eager(name, device, x, y, steps, warm, *, bf16=False, fused=False, compile_mode=None):
    model, optimizer = setup(name, device, **({"fused": True} if fused else {}))
    compile_s = 0.0
    if compile_mode:
        t = time.perf_counter()
        model = torch.compile(model, mode=compile_mode)
    model.train()
    batch, n = BATCH[name], len(y)
    perm = torch.randperm(n, device=device)
    losses = torch.empty(warm + steps, device=device)
    start = None
    for i in range(warm + steps):
        if i == warm:
            sync(device)
            if compile_mode:
                compile_s = time.perf_counter() - t
            start = time.perf_counter()
        j = (i * batch) % (n - batch)
        idx = perm[j : j + batch]
        with autocast(device, bf16):
            loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[i] = loss.detach()
    sync(device)
    ms = (time.perf_counter() - start) / steps * 1e3
    return ms, losses[-20:].mean().item(), compile_s


def graphed(name, device, x, y, steps, warm, *, bf16=False):
    """The whole step as one CUDA graph: static batch indices in, loss out, Adam with a tensor lr."""
    model, optimizer = setup(name, device, capturable=True, foreach=True, tensor_lr=True)
    model.train()
    batch, n = BATCH[name], len(y)
    static_idx = torch.randperm(n, device=device)[:batch].clone()
    perm = torch.randperm(n, device=device)

    def step():
        xb, yb = x[static_idx], y[static_idx]
        with autocast(device, bf16):
            loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        return loss.detach()

    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        optimizer.zero_grad(set_to_none=False)
        for _ in range(3):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    t = time.perf_counter()
    with torch.cuda.graph(graph):
        static_loss = step()
    capture_s = time.perf_counter() - t
    losses = torch.empty(warm + steps, device=device)
    start = None
    for i in range(warm + steps):
        if i == warm:
            sync(device)
            start = time.perf_counter()
        j = (i * batch) % (n - batch)
        static_idx.copy_(perm[j : j + batch])
        graph.replay()
        losses[i] = static_loss
    sync(device)
    ms = (time.perf_counter() - start) / steps * 1e3
    return ms, losses[-20:].mean().item(), capture_s


def evaluation(name, device, x, bf16=False, repeats=5):
    model = build_model(name).to(device, memory_format=torch.channels_last).eval()
    times = []
    with torch.no_grad(), autocast(device, bf16):
        for _ in range(repeats + 1):
            sync(device)
            t = time.perf_counter()
            model(x).argmax(1).sum().item()
            times.append(time.perf_counter() - t)
    return min(times[1:]) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--models", default="tutorial,fast")
    p.add_argument("--no-compile", action="store_true")
    args = p.parse_args()
    device = resolve_device(args.device)
    arrays = data_mod.load_arrays(data_mod.resolve("mnist", None, log=lambda m: None))
    x = normalise(arrays.train_images.to(device)).contiguous(memory_format=torch.channels_last)
    y = arrays.train_labels.to(device)
    tx = normalise(arrays.test_images.to(device)).contiguous(memory_format=torch.channels_last)
    print(f"device: {device} ({device_name(device)}), torch {torch.__version__}", flush=True)
    print("| model | batch | variant | ms/step | steps/s | loss (last 20) | set-up s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |", flush=True)
    for name in args.models.split(","):
        variants = [
            ("eager", lambda: eager(name, device, x, y, args.steps, args.warmup)),
            ("eager bf16", lambda: eager(name, device, x, y, args.steps, args.warmup, bf16=True)),
            ("eager fused", lambda: eager(name, device, x, y, args.steps, args.warmup, fused=True)),
        ]
        if device.type == "cuda":
            variants += [
                ("graph", lambda: graphed(name, device, x, y, args.steps, args.warmup)),
                ("graph bf16", lambda: graphed(name, device, x, y, args.steps, args.warmup, bf16=True)),
            ]
            if not args.no_compile:
                variants.append(
                    (
                        "compile r-o",
                        lambda: eager(
                            name, device, x, y, args.steps, args.warmup, fused=True, compile_mode="reduce-overhead"
                        ),
                    )
                )
        for label, fn in variants:
            try:
                ms, loss, setup_s = fn()
                print(
                    f"| {name} | {BATCH[name]} | {label} | {ms:.3f} | {1e3 / ms:,.0f} | {loss:.4f} | {setup_s:.2f} |",
                    flush=True,
                )
            except Exception as exc:  # noqa: BLE001 - report and go on to the next variant
                print(f"| {name} | {BATCH[name]} | {label} | failed: {type(exc).__name__}: {str(exc)[:150]} |")
        for bf16 in (False, True):
            ms = evaluation(name, device, tx, bf16)
            print(f"  {name}: one 10,000-digit evaluation {'bf16' if bf16 else 'fp32'}: {ms:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
