"""One analysis of the real example CT (supplied ``total`` map) shared by the measure tests."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.cli import main


@pytest.fixture(scope="session")
def ct_and_total(ts_example: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CT voxels, ``total`` label voxels and the affine, read straight with nibabel."""
    image = nib.load(str(ts_example / "ct_small.nii.gz"))
    seg = nib.load(str(ts_example / "seg_total.nii.gz"))
    return np.asanyarray(image.dataobj), np.asanyarray(seg.dataobj), image.affine


@pytest.fixture(scope="session")
def analyzed(ts_example: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of ``-p --cnr-adjustment`` on ct_small with seg_total supplied."""
    out = tmp_path_factory.mktemp("measure") / "out"
    code = main([
        "-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out),
        "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}",
        "-p", "--cnr-adjustment",
    ])  # fmt: skip
    assert code == 0
    return out


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
