"""Browser tests of the web UI: a real ``streamlit run`` on loopback, driven by Debian's headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.ui.browser import chromium_paths

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "ts-example"
LEAD_SHOTS = Path("/work/wt/ui-shots")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Screenshots and downloads: $BOA_TEST_ARTIFACTS/ui when set, else a pytest temporary folder."""
    root = os.environ.get("BOA_TEST_ARTIFACTS")
    folder = Path(root) / "ui" if root else tmp_path_factory.mktemp("ui-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_shot(driver, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    driver.save_screenshot(str(path))
    if LEAD_SHOTS.parent.is_dir() and os.access(LEAD_SHOTS.parent, os.W_OK) and not os.environ.get("CI"):
        LEAD_SHOTS.mkdir(exist_ok=True)
        shutil.copy(path, LEAD_SHOTS / path.name)
    return path


@pytest.fixture(scope="session")
def browser_available() -> None:
    pytest.importorskip("streamlit")
    pytest.importorskip("selenium")
    if chromium_paths() is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/install.sh --system)")
    if not (DATA / "ct_small.nii.gz").is_file():
        pytest.skip("the example CT is not in ../shared/data/ts-example")
