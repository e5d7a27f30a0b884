"""Fixtures of the model tests: stand-in weights made once per session, few torch threads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def standin_weights(tmp_path_factory) -> Path:
    """A weights folder with stand-ins of total (both variants), liver_vessels, body_regions, body_parts."""
    from helpers.standins import make_standins

    root = tmp_path_factory.mktemp("weights")
    make_standins(root, ["total", "liver_vessels", "body_regions", "body_parts"])
    return root


@pytest.fixture()
def ts_home(tmp_path, monkeypatch) -> Path:
    """A TotalSegmentator home whose config switches usage statistics off."""
    home = tmp_path / "tshome"
    home.mkdir()
    (home / "config.json").write_text(
        json.dumps({"totalseg_id": "totalseg_TESTS", "send_usage_stats": False,
                    "prediction_counter": 0, "statistics_disclaimer_shown": True})
    )  # fmt: skip
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(home))
    return home
