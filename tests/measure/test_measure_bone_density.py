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
    document = bone_density(ct, LabelMap(labels, affine, class_map["total"], "total"))
    result = document["vertebrae"]
    assert list(result) == ["vertebrae_L1"] and document["reason"] is None
    assert result["vertebrae_L1"]["hu_mean"] == TRABECULAR_HU
    assert result["vertebrae_L1"]["hu_std"] == 0.0
    assert result["vertebrae_L1"]["roi_volume_ml"] > 2.0  # a real ROI, not a few voxels
    assert result["vertebrae_L1"]["quality"] == "ok" and result["vertebrae_L1"]["quality_reasons"] == []


def test_quality_flags_say_why():
    ct, labels, affine = synthetic_vertebra(1.0)
    total = class_map["total"]
    t12 = {name: label for label, name in total.items()}["vertebrae_T12"]
    roi = trabecular_roi(labels == L1, affine)
    z_roi = np.flatnonzero(roi.any(axis=(0, 1)))
    overlapping = labels.copy()
    overlapping[:5, :5, z_roi[-1]] = t12  # a neighbour's voxels in a slice of L1's ROI
    ct_metal = ct.copy()
    centre = tuple(int(np.median(i)) for i in np.nonzero(roi))
    ct_metal[centre[0] - 2 : centre[0] + 3, centre[1] - 2 : centre[1] + 3, centre[2] - 2 : centre[2] + 3] = 3000
    entry = bone_density(ct_metal, LabelMap(overlapping, affine, total, "total"))["vertebrae"]["vertebrae_L1"]
    assert entry["quality"] == "check"
    reasons = " ".join(entry["quality_reasons"])
    assert "heterogeneous" in reasons and "T12" in reasons
    assert entry["hu_std"] > 60


def test_no_total_gives_a_reason_not_an_empty_document():
    document = bone_density(np.zeros((4, 4, 4), dtype=np.int16), None)
    assert document["vertebrae"] == {} and "did not run" in document["reason"]


def test_any_voxel_order_gives_the_same_roi():
    ct, labels, affine = synthetic_vertebra(1.0)
    # flip the antero-posterior and left-right axes and say so in the affine (LPS-like storage)
    flipped_affine = affine.copy()
    flipped_affine[0, 0] = flipped_affine[1, 1] = -1.0
    roi = trabecular_roi(labels[::-1, ::-1] > 0, flipped_affine)
    assert np.array_equal(roi[::-1, ::-1], trabecular_roi(labels > 0, affine))
    assert set(np.unique(ct[::-1, ::-1][roi]).tolist()) == {TRABECULAR_HU}


def test_real_vertebrae_head_to_feet_with_quality(analyzed, ct_and_total):
    from tests.measure.conftest import read_json

    ct, seg, affine = ct_and_total
    bone = read_json(analyzed / "bone-density.json")
    assert bone["reference_level"] == "vertebrae_L1" and bone["provenance"]["stand_in"] is False
    assert list(bone["vertebrae"]) == ["vertebrae_T11", "vertebrae_T12", "vertebrae_L1", "vertebrae_L2"]
    l1 = bone["vertebrae"]["vertebrae_L1"]
    assert 50 < l1["hu_mean"] < 300  # trabecular bone, not cortex or fat
    # the example's L1 ROI is heterogeneous and shares slices with T12: flagged, with the reasons
    roi = trabecular_roi(seg == L1, affine)
    values = ct[roi].astype(np.float64)
    assert l1["hu_std"] == pytest.approx(values.std(), abs=0.05)
    t12 = {name: label for label, name in class_map["total"].items()}["vertebrae_T12"]
    shares = (seg[:, :, roi.any(axis=(0, 1))] == t12).any()
    assert l1["quality"] == "check"
    assert ("T12" in " ".join(l1["quality_reasons"])) == bool(shares) and shares
    assert any("heterogeneous" in r for r in l1["quality_reasons"]) == (values.std() > 60)
