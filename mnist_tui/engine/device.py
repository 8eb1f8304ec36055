"""Which torch device a run uses, and what to call it.

On a machine with several GPUs, ``--device auto`` takes the one with the most free memory (a shared box: the
first GPU is usually the busiest) and says which and why in the run's log (``choose_device``).
"""

from __future__ import annotations

import platform
import time
from typing import Callable

MemoryReader = Callable[[int], tuple[int, int]]  # a CUDA device's index -> its (free, total) bytes

import torch

from .errors import InputError


class DeviceError(InputError):
    """The requested device is not available here."""


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a torch device that exists on this machine."""
    return choose_device(name)[0]


def choose_device(name: str = "auto", read: MemoryReader | None = None) -> tuple[torch.device, str | None]:
    """``resolve_device``, and for ``auto`` on several GPUs a line for the log that says which and why.

    ``read``: how to read a GPU's free memory (tests script it); by default ``cuda_free_memory``.
    """
    if name == "auto":
        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            if count > 1:
                index, why = pick_gpu(count, read or cuda_free_memory)
                return torch.device("cuda", index), why
            return torch.device("cuda", torch.cuda.current_device()), None
        return torch.device("mps") if _mps_available() else torch.device("cpu"), None
    return _named_device(name), None


def _named_device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available on this machine (try --device cpu)")
        index = int(name[5:]) if name.startswith("cuda:") else torch.cuda.current_device()
        count = torch.cuda.device_count()
        if index >= count:
            raise DeviceError(f"--device {name}: this machine has {count} CUDA device(s), numbered from 0")
        return torch.device("cuda", index)
    if name == "mps":
        if not _mps_available():
            raise DeviceError("--device mps: Apple MPS is not available on this machine (try --device cpu)")
        return torch.device("mps")
    raise DeviceError(f"--device {name!r}: expected auto, cpu, cuda, cuda:N or mps")


def cuda_free_memory(index: int) -> tuple[int, int]:
    """Free and total bytes of CUDA device ``index``. Through NVML (torch.cuda.device_memory_used) where it
    can, which makes no CUDA context on the GPUs not chosen (each would hold a few hundred MB of another
    user's GPU for as long as the run lasts); else ``torch.cuda.mem_get_info``."""
    try:
        total = int(torch.cuda.get_device_properties(index).total_memory)
        return total - int(torch.cuda.device_memory_used(index)), total
    except Exception:  # noqa: BLE001 - no NVML here: ask the driver, at the cost of a context
        free, total = torch.cuda.mem_get_info(index)
        return int(free), int(total)


def pick_gpu(count: int, read: MemoryReader) -> tuple[int, str]:
    """The GPU with the most free memory (the lowest index of equals) and a line saying which and why; a GPU
    whose memory cannot be read is passed over, and if none can be, GPU 0 is taken and the line says so."""
    free: dict[int, tuple[int, int]] = {}
    for index in range(count):
        try:
            free[index] = read(index)
        except Exception:  # noqa: BLE001, S112 - an unreadable GPU is not chosen; the line says N/A
            continue
    if not free:
        return 0, f"--device auto: the free memory of none of the {count} GPUs could be read; training on cuda:0"
    best = max(free, key=lambda index: (free[index][0], -index))
    others = ", ".join(
        f"cuda:{index} {_gib(free[index][0])} free" if index in free else f"cuda:{index} N/A"
        for index in range(count)
        if index != best
    )
    chosen_free, total = free[best]
    return best, (
        f"--device auto: cuda:{best}, the GPU with the most free memory ({_gib(chosen_free)} of {_gib(total)} free;"
        f" {others})"
    )


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return cpu_name()


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


# Speed options: what each device supports, with a plain fallback ------------------------------------------
def autocast_dtype(device: torch.device, mode: str) -> tuple[torch.dtype | None, str | None]:
    """The autocast dtype for ``--amp mode`` on ``device`` (None: full precision) and a note when it falls back.

    auto: off. On an H100, bf16 made a step of the tutorial and fast networks slower, eager or recorded
    (benchmarks/gpu_step_probe.py): they are too small for the matrix units to matter, and the casts cost.
    bf16: also on CPU (where it is rarely faster), refused with a note on a GPU without bf16 and on MPS.
    """
    if mode in ("off", "auto"):
        return None, None
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if device.type == "cuda" and not cuda_bf16:
        return None, f"--amp bf16: {device_name(device)} has no bf16 support; training in full precision"
    if device.type not in ("cuda", "cpu"):
        return None, f"--amp bf16: no bf16 autocast on {device.type}; training in full precision"
    return torch.bfloat16, None


def eval_batch_size(device: torch.device, configured: int = 0) -> int:
    """Images per evaluation forward pass: ``configured``, else the whole test set in one batch on a GPU
    and 250 on a CPU (smaller batches stay in cache: 10,000 digits through FastNet took 0.8 s
    at 250 and 1.3 s at 1,000 on 2 cores).
    """
    return configured or (10_000 if device.type != "cpu" else 250)


def use_cuda_graphs(device: torch.device, mode: str, compile_mode: str) -> tuple[bool, str | None]:
    """Whether to record the training step as a CUDA graph (see graphs.py), and a note when ``on`` can't be.

    auto: on for a CUDA device unless the model is compiled (``--compile reduce-overhead`` records graphs
    of its own; the other compile modes are not measured with graphs).
    """
    if mode == "off":
        return False, None
    if device.type != "cuda":
        return False, (
            f"--cuda-graphs on: no CUDA graphs on {device.type}; training without them" if mode == "on" else None
        )
    if compile_mode != "off":
        note = f"--cuda-graphs on: not with --compile {compile_mode}; training without them" if mode == "on" else None
        return False, note
    return True, None


def compile_model(
    model: torch.nn.Module, mode: str, warm_up: Callable[[torch.nn.Module], None]
) -> tuple[torch.nn.Module, str]:
    """``torch.compile(model)`` in ``mode``, compiled now by ``warm_up``; the eager model if anything fails.

    Returns the model to train with and a line for the log (the compile time, or why it fell back).
    """
    started = time.monotonic()
    try:
        compiled = torch.compile(model, mode=None if mode == "default" else mode)
        warm_up(compiled)
    except Exception as exc:  # noqa: BLE001 - no compiler, no triton, an unsupported op: train eagerly
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return model, f"--compile {mode} failed ({type(exc).__name__}: {first[:200]}); training without it"
    return compiled, f"compiled the model (--compile {mode}) in {time.monotonic() - started:.1f} s"
