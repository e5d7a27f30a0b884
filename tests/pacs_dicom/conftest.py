"""Fixtures: a real result folder made by analyze() from the real DICOM series, its DICOM outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from body_organ_analysis.pipeline import analyze
from body_organ_analysis.settings import RuntimeConfig, Settings
from tests.pacs_dicom.results import complete_result_folder

pytest.importorskip("highdicom")


@pytest.fixture(scope="session")
def series_dir(ts_example: Path) -> Path:
    return ts_example / "dicom_series_with_uids"


@pytest.fixture(scope="session")
def source_datasets(series_dir: Path) -> list[pydicom.Dataset]:
    """The source series' headers (no pixel data), as the PACS worker passes them."""
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(series_dir.iterdir())]


@pytest.fixture(scope="session")
def result_dir(tmp_path_factory: pytest.TempPathFactory, ts_example: Path, series_dir: Path) -> Path:
    """analyze() on the real series with TotalSegmentator's real `total` output supplied."""
    output = tmp_path_factory.mktemp("dicom-outputs") / "result"
    settings = Settings(
        input_image=series_dir,
        output_dir=output,
        models=("total",),
        runtime=RuntimeConfig(device="cpu"),
        segmentations={"total": ts_example / "seg_total_dicom_series.nii.gz"},
    )
    analyze(settings)
    complete_result_folder(output)
    return output


@pytest.fixture(scope="session")
def outputs(result_dir: Path, source_datasets: list[pydicom.Dataset]) -> dict[str, pydicom.Dataset]:
    from body_organ_analysis.pacs.dicom_outputs import build_dicom_outputs

    built = build_dicom_outputs(result_dir, source_datasets)
    return {ds.Modality: ds for ds in built}


def copy_result(result_dir: Path, target: Path, names: tuple[str, ...] | None = None) -> Path:
    """A copy of (some files of) the result folder to change in a test."""
    target.mkdir(parents=True, exist_ok=True)
    for path in result_dir.iterdir():
        if names is None or path.name in names:
            shutil.copy2(path, target / path.name)
    return target
