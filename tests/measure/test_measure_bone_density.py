"""Bone density on a synthetic vertebra with known trabecular HU."""

from __future__ import annotations

import numpy as np
import pytest
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.measure.bone_density import bone_density, trabecular_roi

TRABECULAR_HU, CORTEX_HU, POSTERIOR_HU = 150, 700, 500
L1 = {name: label for label, name in class_map["total"].items()}["vertebrae_L1"]


def synthetic_vertebra(spacing_mm: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RAS grid: a cylindrical body (radius 16 mm, 26 mm tall, 2 mm cortex) in front,
    pedicles, a ring around the canal and a spinous process behind (A = +y)."""
    n = int(round(100 / spacing_mm))
    x, y, z = (np.indices((n, n, int(round(40 / spacing_mm)))) + 0.5) * spacing_mm
    x, y, z = x - 50, y - 50, z - 20  # mm from the body's centre line; y > 0 is anterior
    body_r = np.hypot(x, y - 20)
    tall = np.abs(z) <= 13
    body = (body_r <= 16) & tall
    trabecular = (body_r <= 14) & (np.abs(z) <= 11)
    canal_r = np.hypot(x, y + 8)
    arch = (canal_r >= 9) & (canal_r <= 15) & (y <= 6) & (np.abs(z) <= 8)
    spinous = (np.abs(x) <= 3) & (y < -20) & (y >= -50) & (np.abs(z) <= 6)
    vertebra = body | arch | spinous
    ct = np.full(vertebra.shape, 30, dtype=np.int16)  # soft tissue around
    ct[arch | spinous] = POSTERIOR_HU
    ct[body] = CORTEX_HU
    ct[trabecular] = TRABECULAR_HU
    labels = np.where(vertebra, L1, 0).astype(np.uint8)
    return ct, labels, np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])


@pytest.mark.parametrize("spacing_mm", [1.0, 2.0])
def test_trabecular_mean_is_exact(spacing_mm):
    ct, labels, affine = synthetic_vertebra(spacing_mm)
    result = bone_density(ct, LabelMap(labels, affine, class_map["total"], "total"))
    assert list(result) == ["vertebrae_L1"]
    assert result["vertebrae_L1"]["hu_mean"] == TRABECULAR_HU
    assert result["vertebrae_L1"]["hu_std"] == 0.0
    assert result["vertebrae_L1"]["roi_volume_ml"] > 2.0  # a real ROI, not a few voxels


def test_any_voxel_order_gives_the_same_roi():
    ct, labels, affine = synthetic_vertebra(1.0)
    # flip the antero-posterior and left-right axes and say so in the affine (LPS-like storage)
    flipped_affine = affine.copy()
    flipped_affine[0, 0] = flipped_affine[1, 1] = -1.0
    roi = trabecular_roi(labels[::-1, ::-1] > 0, flipped_affine)
    assert np.array_equal(roi[::-1, ::-1], trabecular_roi(labels > 0, affine))
    assert set(np.unique(ct[::-1, ::-1][roi]).tolist()) == {TRABECULAR_HU}


def test_real_vertebrae_with_l1_first(analyzed):
    from tests.measure.conftest import read_json

    bone = read_json(analyzed / "bone-density.json")
    assert list(bone)[0] == "vertebrae_L1"
    assert 50 < bone["vertebrae_L1"]["hu_mean"] < 300  # trabecular bone, not cortex or fat
