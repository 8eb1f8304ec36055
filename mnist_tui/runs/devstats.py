"""Live statistics of the device a run trains on: an API the UI only reads.

``read_device_stats(device)`` returns a frozen ``DeviceStats`` snapshot. Every value is read on its own and
guarded: one that cannot be read (no NVML, no permission, a counter this platform lacks) is ``None``, which
the screen prints as N/A. Nothing here raises.

Sources: psutil for the CPU and the process; for CUDA devices NVML through ``pynvml`` (nvidia-ml-py) for
utilisation, temperature, power and device memory, and torch's caching allocator for the memory this
process holds. NVML is initialised once per process and the result cached, whether it worked or not.
A run on a GPU also gets one ``GpuReading`` for every GPU of the machine (``gpus``): a shared box shows whose
jobs share it, and which GPU is the run's.

Reading is cheap but not free (NVML calls take a few milliseconds); call it off the UI thread, about once
a second. torch is never imported here: it is used only if the trainer has already loaded it, so this
module stays light to import.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class GpuReading:
    """One GPU of the machine, by NVML's numbering (nvidia-smi's). ``None``: could not be read (N/A)."""

    index: int
    name: str | None = None
    utilization: float | None = None  # percent of time a kernel ran
    memory_used: int | None = None  # bytes, all processes
    memory_total: int | None = None  # bytes
    other_processes: int | None = None  # processes using it other than the one that trains this run
    training: bool = False  # the run trains on this GPU


@dataclass(frozen=True)
class DeviceStats:
    """One reading. ``None`` means the value could not be read (shown as N/A)."""

    cpu_percent: float | None = None  # system-wide CPU load, 0..100
    cpu_count: int | None = None  # logical CPUs
    torch_threads: int | None = None  # torch intra-op threads (torch.get_num_threads())
    process_threads: int | None = None  # OS threads of this process
    process_rss: int | None = None  # bytes of resident memory of this process
    process_cpu_percent: float | None = None  # this process's CPU use; 100 = one core busy
    system_memory_used: int | None = None  # bytes
    system_memory_total: int | None = None  # bytes
    gpu_utilization: float | None = None  # percent of time a kernel ran (NVML)
    gpu_memory_used: int | None = None  # bytes in use on the device, all processes (NVML)
    gpu_memory_total: int | None = None  # bytes on the device (NVML, else torch)
    torch_allocated: int | None = None  # bytes held by tensors of this process (torch allocator)
    torch_reserved: int | None = None  # bytes reserved by torch's caching allocator
    temperature: float | None = None  # GPU temperature, degrees C
    power: float | None = None  # watts drawn now
    power_limit: float | None = None  # enforced power limit, watts
    gpus: tuple[GpuReading, ...] = ()  # every GPU of the machine, for a run on a GPU (NVML)


def _guard(read: Callable[[], T]) -> T | None:
    """Run one read; any failure (including a missing library) gives None."""
    try:
        return read()
    except Exception:  # noqa: BLE001 - a statistic that cannot be read is N/A, never a crash
        return None


# psutil --------------------------------------------------------------------------------------------------
_lock = threading.Lock()
_process: Any = None  # psutil.Process of the process read, created once (keeps the CPU-percent baseline)
_cpu_primed = False  # psutil's first cpu_percent() call only sets the baseline and returns 0.0


def _psutil() -> Any:
    import psutil

    return psutil


def _this_process(pid: int | None = None) -> Any:
    """This process, or the one training the run a viewer shows (``pid``)."""
    global _process, _cpu_primed
    if _process is None or (pid is not None and _process.pid != pid):
        _process = _psutil().Process(pid)
        _cpu_primed = False
    return _process


def _cpu_reads(pid: int | None = None) -> dict[str, Any]:
    global _cpu_primed
    with _lock:
        process = _guard(lambda: _this_process(pid))
        primed = _cpu_primed
        system_cpu = _guard(lambda: float(_psutil().cpu_percent(interval=None)))
        process_cpu = _guard(lambda: float(process.cpu_percent(interval=None)))
        _cpu_primed = True
    memory = _guard(lambda: _psutil().virtual_memory())
    return {
        # The first reading only starts the measuring interval; show N/A rather than a false 0 %.
        "cpu_percent": system_cpu if primed else None,
        "process_cpu_percent": process_cpu if primed else None,
        "cpu_count": _guard(lambda: _psutil().cpu_count(logical=True)),
        "process_threads": _guard(lambda: int(process.num_threads())),
        "process_rss": _guard(lambda: int(process.memory_info().rss)),
        "system_memory_used": _guard(lambda: int(memory.total - memory.available)),
        "system_memory_total": _guard(lambda: int(memory.total)),
    }


# torch (only if already imported by the trainer) --------------------------------------------------------
def _loaded_torch() -> Any:
    return sys.modules.get("torch")


def _cuda_index(device: str) -> int | None:
    if device == "cuda":
        torch = _loaded_torch()
        return _guard(lambda: int(torch.cuda.current_device())) if torch is not None else 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    return None


def _torch_reads(device: str, index: int | None) -> dict[str, Any]:
    torch = _loaded_torch()
    if torch is None:
        return {}
    values: dict[str, Any] = {"torch_threads": _guard(lambda: int(torch.get_num_threads()))}
    if index is not None:
        values["torch_allocated"] = _guard(lambda: int(torch.cuda.memory_allocated(index)))
        values["torch_reserved"] = _guard(lambda: int(torch.cuda.memory_reserved(index)))
        values["gpu_memory_total"] = _guard(lambda: int(torch.cuda.get_device_properties(index).total_memory))
    elif device == "mps":
        values["torch_allocated"] = _guard(lambda: int(torch.mps.current_allocated_memory()))
        values["torch_reserved"] = _guard(lambda: int(torch.mps.driver_allocated_memory()))
    return values


# NVML ----------------------------------------------------------------------------------------------------
_nvml: Any = None  # the pynvml module once initialised; False when NVML is not available here
_nvml_handles: dict[int, Any] = {}


def _nvml_module() -> Any:
    """pynvml, initialised once; None when NVML cannot be used (no library, no driver, no GPU)."""
    global _nvml
    with _lock:
        if _nvml is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml = pynvml
            except Exception:  # noqa: BLE001 - no NVML: every NVML value is N/A
                _nvml = False
        return _nvml or None


def _nvml_handle(nvml: Any, index: int) -> Any:
    """The NVML handle of CUDA device ``index``, matched by UUID (CUDA_VISIBLE_DEVICES renumbers devices)."""
    if index in _nvml_handles:
        return _nvml_handles[index]
    handle = None
    torch = _loaded_torch()
    if torch is not None:
        uuid = _guard(lambda: str(torch.cuda.get_device_properties(index).uuid))
        if uuid:
            uuid = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
            handle = _guard(lambda: nvml.nvmlDeviceGetHandleByUUID(uuid))
    if handle is None:
        handle = _guard(lambda: nvml.nvmlDeviceGetHandleByIndex(index))
    if handle is not None:
        _nvml_handles[index] = handle
    return handle


def _temperature(nvml: Any, handle: Any) -> float:
    try:
        return float(nvml.nvmlDeviceGetTemperatureV(handle, nvml.NVML_TEMPERATURE_GPU))
    except Exception:  # noqa: BLE001 - older drivers only have the deprecated call
        return float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))


def _nvml_reads(index: int) -> dict[str, Any]:
    nvml = _nvml_module()
    if nvml is None:
        return {}
    handle = _nvml_handle(nvml, index)
    if handle is None:
        return {}
    memory = _guard(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    values = {
        "gpu_utilization": _guard(lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)),
        "gpu_memory_used": _guard(lambda: int(memory.used)),
        "gpu_memory_total": _guard(lambda: int(memory.total)),
        "temperature": _guard(lambda: _temperature(nvml, handle)),
        "power": _guard(lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0),
        "power_limit": _guard(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0),
    }
    return {k: v for k, v in values.items() if v is not None}


def _uuid(nvml: Any, handle: Any) -> str | None:
    uuid = _guard(lambda: nvml.nvmlDeviceGetUUID(handle))
    return uuid.decode() if isinstance(uuid, bytes) else uuid


def _processes(nvml: Any, handle: Any) -> set[int] | None:
    """The ids of the processes using a GPU (compute and graphics); None if neither list can be read."""
    pids: set[int] = set()
    read = False
    for name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        found = _guard(lambda name=name: getattr(nvml, name)(handle))
        if found is not None:
            read = True
            pids.update(int(p.pid) for p in found)
    return pids if read else None


def read_gpus(training_index: int | None, pid: int | None = None) -> tuple[GpuReading, ...]:
    """Every GPU NVML sees, one reading each; the one CUDA device ``training_index`` is marked ``training``, and
    the process ``pid`` (this one by default) is not counted among the others on a GPU. Never raises."""
    nvml = _nvml_module()
    if nvml is None:
        return ()
    count = _guard(lambda: int(nvml.nvmlDeviceGetCount()))
    if not count:
        return ()
    own = pid if pid is not None else os.getpid()
    training = _nvml_handle(nvml, training_index) if training_index is not None else None
    training_uuid = _uuid(nvml, training) if training is not None else None
    readings = []
    for index in range(count):
        handle = _guard(lambda index=index: nvml.nvmlDeviceGetHandleByIndex(index))
        if handle is None:
            readings.append(GpuReading(index))
            continue
        memory = _guard(lambda handle=handle: nvml.nvmlDeviceGetMemoryInfo(handle))
        name = _guard(lambda handle=handle: nvml.nvmlDeviceGetName(handle))
        pids = _processes(nvml, handle)
        uuid = _uuid(nvml, handle)
        readings.append(
            GpuReading(
                index,
                name=name.decode() if isinstance(name, bytes) else name,
                utilization=_guard(lambda handle=handle: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)),
                memory_used=_guard(lambda memory=memory: int(memory.used)),
                memory_total=_guard(lambda memory=memory: int(memory.total)),
                other_processes=None if pids is None else len(pids - {own}),
                training=uuid == training_uuid if training_uuid is not None else index == training_index,
            )
        )
    return tuple(readings)


def read_device_stats(device: str, pid: int | None = None) -> DeviceStats:
    """A snapshot for ``device`` (a torch device string: "cpu", "cuda", "cuda:N", "mps"). Never raises.

    ``pid``: read the process that trains (a viewer's run is trained by another process); torch's own
    figures (threads, allocator) are then N/A, as they can only be read inside the training process.
    """
    try:
        values = _cpu_reads(pid)
        index = _cuda_index(device)
        if pid is None or pid == os.getpid():
            values.update(_torch_reads(device, index))
        if index is not None:
            values.update(_nvml_reads(index))  # NVML's device total wins over torch's, both are the same
            values["gpus"] = read_gpus(index, pid)
        return DeviceStats(**values)
    except Exception:  # noqa: BLE001 - belt and braces: a reading must never take the screen down
        return DeviceStats()


def _reset_for_tests() -> None:
    """Forget cached NVML and psutil state (tests simulate NVML present or absent)."""
    global _nvml, _process, _cpu_primed
    with _lock:
        _nvml = None
        _process = None
        _cpu_primed = False
        _nvml_handles.clear()
