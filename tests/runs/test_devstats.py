"""Device statistics: every value present or None, never an exception; NVML present, absent or failing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import types

import pytest

from mnist_tui.runs import devstats
from mnist_tui.runs.devstats import DeviceStats, GpuReading, read_device_stats, read_gpus


@pytest.fixture(autouse=True)
def _fresh_state():
    devstats._reset_for_tests()
    yield
    devstats._reset_for_tests()


@pytest.fixture(autouse=True)
def _no_torch_unless_faked(monkeypatch):
    """Other tests in this process may have imported torch; these tests decide what torch looks like."""
    monkeypatch.setitem(sys.modules, "torch", None)


def test_cpu_reading_has_values_or_none():
    first = read_device_stats("cpu")
    second = read_device_stats("cpu")
    assert isinstance(second, DeviceStats)
    assert first.cpu_percent is None  # psutil's first reading only starts the interval
    assert second.cpu_percent is not None and 0.0 <= second.cpu_percent <= 100.0
    assert second.process_rss is not None and second.process_rss > 0
    assert second.cpu_count is not None and second.cpu_count >= 1
    assert second.process_threads is not None and second.process_threads >= 1
    assert second.system_memory_total and second.system_memory_used
    assert second.gpu_utilization is None and second.temperature is None  # no GPU values on a CPU device


def test_torch_threads_only_once_torch_is_loaded(monkeypatch):
    fake_torch = types.SimpleNamespace(get_num_threads=lambda: 3)
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    assert read_device_stats("cpu").torch_threads == 3
    monkeypatch.setitem(sys.modules, "torch", None)
    assert read_device_stats("cpu").torch_threads is None


def test_nvml_absent_gives_none_without_raising(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    stats = read_device_stats("cuda:0")
    assert stats.gpu_utilization is None and stats.temperature is None and stats.power is None
    assert stats.gpu_memory_used is None
    assert stats.process_rss is not None  # the CPU side still reads


def test_nvml_init_failure_is_cached(monkeypatch):
    calls = []

    def nvml_init():
        calls.append(1)
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(nvmlInit=nvml_init))
    for _ in range(3):
        assert read_device_stats("cuda:0").gpu_utilization is None
    assert len(calls) == 1


class FakeNvml:
    """A pynvml stand-in: one device, some calls failing as they do on real boards."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self) -> None:
        self.inits = 0

    def nvmlInit(self):
        self.inits += 1

    def nvmlDeviceGetHandleByUUID(self, uuid):
        assert uuid == "GPU-1234"
        return "handle"

    def nvmlDeviceGetHandleByIndex(self, index):
        return "handle-by-index"

    def nvmlDeviceGetMemoryInfo(self, handle):
        return types.SimpleNamespace(used=3 * 2**30, total=80 * 2**30)

    def nvmlDeviceGetUtilizationRates(self, handle):
        return types.SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetTemperatureV(self, handle, sensor):
        raise RuntimeError("Function Not Found")  # an older driver: falls back to the deprecated call

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 64

    def nvmlDeviceGetPowerUsage(self, handle):
        raise RuntimeError("Not Supported")

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 300_000


class FakeCuda:
    def current_device(self):
        return 0

    def memory_allocated(self, index):
        return 1_200 * 2**20

    def memory_reserved(self, index):
        raise RuntimeError("CUDA error")

    def get_device_properties(self, index):
        return types.SimpleNamespace(uuid="1234", total_memory=79 * 2**30)


def test_nvml_values_each_guarded(monkeypatch):
    nvml = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(get_num_threads=lambda: 8, cuda=FakeCuda()))
    stats = read_device_stats("cuda:0")
    assert stats.gpu_utilization == 87.0
    assert stats.temperature == 64.0
    assert stats.power is None  # not supported: N/A, the rest still read
    assert stats.power_limit == 300.0
    assert stats.gpu_memory_used == 3 * 2**30 and stats.gpu_memory_total == 80 * 2**30
    assert stats.torch_allocated == 1_200 * 2**20 and stats.torch_reserved is None
    assert stats.torch_threads == 8
    read_device_stats("cuda")
    assert nvml.inits == 1


def test_a_failing_psutil_gives_none(monkeypatch):
    broken = types.SimpleNamespace()  # every attribute access fails
    monkeypatch.setitem(sys.modules, "psutil", broken)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if the trainer had not loaded torch
    stats = read_device_stats("cpu")
    assert all(getattr(stats, f.name) is None for f in dataclasses.fields(stats) if f.name != "gpus")
    assert stats.gpus == ()


def test_unknown_devices_do_not_raise():
    for device in ("mps", "cuda:7", "xla", ""):
        assert isinstance(read_device_stats(device), DeviceStats)


def test_devstats_loads_no_ui_and_no_torch():
    code = (
        "import sys; from mnist_tui.runs.devstats import read_device_stats; read_device_stats('cpu'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'plotext', 'torch')"
        " or m.startswith('mnist_tui.ui')]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


class SharedBox(FakeNvml):
    """Three GPUs: the run's (UUID GPU-1234, NVML's 1), one busy with two other jobs, and one that cannot be read."""

    UUIDS = ("GPU-aaaa", "GPU-1234", "GPU-cccc")

    def nvmlDeviceGetCount(self):
        return 3

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return f"h{self.UUIDS.index(uuid)}"

    def nvmlDeviceGetHandleByIndex(self, index):
        if index == 2:
            raise RuntimeError("GPU is lost")
        return f"h{index}"

    def nvmlDeviceGetUUID(self, handle):
        return self.UUIDS[int(handle[1:])].encode()  # older pynvml: bytes

    def nvmlDeviceGetName(self, handle):
        return "NVIDIA H100"

    def nvmlDeviceGetUtilizationRates(self, handle):
        return types.SimpleNamespace(gpu={"h0": 95, "h1": 87}[handle])

    def nvmlDeviceGetMemoryInfo(self, handle):
        used = {"h0": 70, "h1": 3}[handle]
        return types.SimpleNamespace(used=used * 2**30, total=80 * 2**30)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        own = types.SimpleNamespace(pid=os.getpid())
        others = [types.SimpleNamespace(pid=1001), types.SimpleNamespace(pid=1002)]
        return {"h0": others, "h1": [own]}[handle]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        raise RuntimeError("Not Supported")  # the compute list alone still counts


def test_every_gpu_of_the_machine_is_read_and_the_runs_is_marked(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", SharedBox())
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(get_num_threads=lambda: 8, cuda=FakeCuda()))
    gpus = read_device_stats("cuda:0").gpus  # CUDA's 0 is NVML's 1 here (CUDA_VISIBLE_DEVICES), found by UUID
    assert [g.index for g in gpus] == [0, 1, 2]
    busy, ours, lost = gpus
    assert busy == GpuReading(0, "NVIDIA H100", 95.0, 70 * 2**30, 80 * 2**30, other_processes=2, training=False)
    assert ours.training and ours.other_processes == 0 and ours.utilization == 87.0  # this process is not "other"
    assert lost == GpuReading(2)  # cannot be read: every value N/A, not a crash


def test_a_viewer_counts_the_training_process_as_the_runs_own(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", SharedBox())
    monkeypatch.setitem(sys.modules, "torch", None)  # a viewer has no torch: the run's GPU is NVML's index
    gpus = read_gpus(0, pid=1001)
    assert gpus[0].training and gpus[0].other_processes == 1
    assert not gpus[1].training and gpus[1].other_processes == 1  # this (viewer) process's pid counts as other


def test_no_gpu_list_without_nvml_or_on_a_cpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert read_device_stats("cuda:0").gpus == ()
    devstats._reset_for_tests()
    monkeypatch.setitem(sys.modules, "pynvml", SharedBox())
    assert read_device_stats("cpu").gpus == ()
