"""Shared fixtures: the real CT data beside the repository (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TS_EXAMPLE = REPO.parent / "shared" / "data" / "ts-example"


@pytest.fixture(scope="session")
def ts_example() -> Path:
    """Folder of the TotalSegmentator example case (see its README)."""
    assert TS_EXAMPLE.is_dir(), f"real test data missing: {TS_EXAMPLE}"
    return TS_EXAMPLE
