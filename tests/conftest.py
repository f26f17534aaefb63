"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The public data set beside the project (``../shared/data``); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (only present in the developers' workspace)")
    return SHARED_DATA
