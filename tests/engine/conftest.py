"""Fixtures of the engine tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def torch_threads():
    """A test may change the process's torch threads (a trainer sets them): put them back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
