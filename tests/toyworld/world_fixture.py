"""The built toy world shared by the model and toy-world tests (built once, then cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc.toyworld.store import ensure_built


@pytest.fixture(scope="session")
def toy_world() -> Path:
    """$ACDC_CACHE/toyworld/<hash>: the first test session on a machine pays the build."""
    return ensure_built()
