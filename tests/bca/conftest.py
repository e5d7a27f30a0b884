"""Fixtures of the body-composition tests: the real example CT and the phantom."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import get_model


@pytest.fixture(scope="session")
def small_ct(ts_example: Path) -> CTVolume:
    image = nib.load(str(ts_example / "ct_small.nii.gz"))
    return CTVolume(np.asanyarray(image.dataobj).astype(np.int16), image.affine, "nifti", "ct_small.nii.gz")


@pytest.fixture(scope="session")
def small_total(ts_example: Path, small_ct: CTVolume) -> LabelMap:
    data = np.asanyarray(nib.load(str(ts_example / "seg_total.nii.gz")).dataobj).astype(np.uint8)
    return LabelMap(data, small_ct.affine, get_model("total").labels(), "total", origin="user-supplied")


@pytest.fixture(scope="session")
def phantom():
    from body_organ_analysis.demo.phantom import make_phantom

    return make_phantom(seed=1)


@pytest.fixture(scope="session")
def phantom_ct(phantom) -> CTVolume:
    return CTVolume(phantom.hu, phantom.affine, "nifti", "phantom.nii.gz")


@pytest.fixture(scope="session")
def phantom_total(phantom) -> LabelMap:
    return LabelMap(phantom.total, phantom.affine, phantom.total_labels, "total", origin="user-supplied")
