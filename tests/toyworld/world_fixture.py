"""The built toy world shared by the model and toy-world tests (built once, then cached)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from acdc.toyworld.build import ensure_built


@pytest.fixture(scope="session")
def toy_world() -> Path:
    """$ACDC_CACHE/toyworld/<hash>: the first test session on a machine pays the build."""
    return ensure_built()


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a shared 2-core CI box two OpenMP
    threads spinning on each other made these tests ten times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
