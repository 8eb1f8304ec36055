"""--device auto on a machine with several GPUs: the one with the most free memory, and a line that says why.

The GPUs are scripted: ``pick_gpu`` takes the function that reads a GPU's (free, total) bytes, so no test needs
a GPU or patches torch.
"""

from __future__ import annotations

import torch

from mnist_tui.engine.device import choose_device, pick_gpu

GIB = 2**30


def reader(free_gib: dict[int, float | None], total_gib: float = 80):
    """A GPU reader over scripted free memory; None: that GPU cannot be read (raises, as NVML does)."""

    def read(index: int) -> tuple[int, int]:
        value = free_gib[index]
        if value is None:
            raise RuntimeError("NVML: GPU is lost")
        return int(value * GIB), int(total_gib * GIB)

    return read


def test_the_gpu_with_the_most_free_memory_is_chosen_and_the_log_says_why():
    index, why = pick_gpu(3, reader({0: 2.0, 1: 70.5, 2: 30.0}))
    assert index == 1
    assert why == (
        "--device auto: cuda:1, the GPU with the most free memory (70.5 GiB of 80.0 GiB free; "
        "cuda:0 2.0 GiB free, cuda:2 30.0 GiB free)"
    )


def test_equal_free_memory_takes_the_lowest_index():
    assert pick_gpu(3, reader({0: 10.0, 1: 40.0, 2: 40.0}))[0] == 1


def test_a_gpu_that_cannot_be_read_is_passed_over_and_shown_as_na():
    index, why = pick_gpu(3, reader({0: None, 1: 5.0, 2: 1.0}))
    assert index == 1
    assert "cuda:0 N/A" in why and "cuda:2 1.0 GiB free" in why


def test_no_gpu_readable_falls_back_to_the_first_and_says_so():
    index, why = pick_gpu(2, reader({0: None, 1: None}))
    assert index == 0
    assert "none of the 2 GPUs" in why and "cuda:0" in why


def test_explicit_devices_need_no_reading_and_say_nothing():
    def never(index: int) -> tuple[int, int]:
        raise AssertionError("an explicit device reads no GPU")

    assert choose_device("cpu", never) == (torch.device("cpu"), None)


def test_auto_without_several_gpus_says_nothing():
    device, why = choose_device("auto", reader({}))
    if torch.cuda.device_count() < 2:  # this machine: CPU, MPS or a single GPU; auto is what it always was
        assert why is None and device.type in ("cpu", "cuda", "mps")
