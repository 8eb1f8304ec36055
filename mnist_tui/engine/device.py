"""Which torch device a run uses, and what to call it."""

from __future__ import annotations

import platform

import torch


from .errors import InputError


class DeviceError(InputError):
    """The requested device is not available here."""


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a torch device that exists on this machine."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
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
