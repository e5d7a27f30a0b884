"""Slab-by-slab passes give what the whole-volume numpy expressions give, in any memory order."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from body_organ_analysis.imaging import orientation
from body_organ_analysis.imaging import slabs as slab_module
from body_organ_analysis.imaging.slabs import nonzero_along_axes, slabs
from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.labelmap import label_counts


def _labels(order: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    data = np.zeros((23, 17, 11), dtype=np.uint8)
    data[3:19, 2:15, 1:9] = rng.integers(0, 5, size=(16, 13, 8))  # a body with holes, empty borders
    return np.asarray(data, order=order)


@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("voxels", [1, 300, 10**9])
def test_slabs_cover_every_voxel_once(monkeypatch, order, voxels):
    monkeypatch.setattr(slab_module, "SLAB_VOXELS", voxels)
    data = _labels(order)
    for axis in (None, 0, 1, 2):
        seen = np.zeros(data.shape, dtype=int)
        for slab in slabs(data, axis):
            seen[slab] += 1
        assert (seen == 1).all()


@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("voxels", [1, 300, 10**9])
def test_nonzero_along_axes_equals_any(monkeypatch, order, voxels):
    monkeypatch.setattr(slab_module, "SLAB_VOXELS", voxels)
    data = _labels(order)
    expected = [(data > 0).any(axis=tuple(a for a in range(3) if a != k)) for k in range(3)]
    assert not expected[0].all() and expected[0].any()  # empty borders: a result that can be wrong
    for found, wanted in zip(nonzero_along_axes(data), expected):
        assert np.array_equal(found, wanted)


@pytest.mark.parametrize("order", ["F", "C"])
def test_body_midline_from_slabs_equals_all_voxels(monkeypatch, order):
    monkeypatch.setattr(slab_module, "SLAB_VOXELS", 50)
    data = _labels(order)
    affine = np.array([[0.0, -0.9, 0.1, 40], [0.7, 0, 0, -3], [0, 0.2, 2.5, 9], [0, 0, 0, 1]])  # oblique
    x = orientation.world_coordinates(affine, np.argwhere(data > 0))[:, 0]
    assert orientation.body_midline_x(data, affine) == pytest.approx((x.min() + x.max()) / 2, abs=1e-9)
    assert orientation.body_midline_x(data > 0, affine) == orientation.body_midline_x(data, affine)
    with pytest.raises(ValueError):
        orientation.body_midline_x(np.zeros_like(data), affine)


@pytest.mark.parametrize("size", [1, 2, 999, 1000])
def test_uint8_counts_equal_bincount(monkeypatch, size):
    from body_organ_analysis import labelmap

    monkeypatch.setattr(labelmap, "COUNT_CHUNK_VOXELS", 7)  # ragged chunks of voxel pairs
    data = np.random.default_rng(size).integers(0, 256, size=size).astype(np.uint8)
    for minlength in (0, 300):
        assert np.array_equal(label_counts(data, minlength), np.bincount(data, minlength=minlength))
    assert np.array_equal(label_counts(_labels("F")), np.bincount(_labels("F").ravel()))


def test_fingerprint_is_the_voxels_in_nifti_order_whatever_the_layout():
    data = np.asarray(_labels("F"), dtype=np.int16) * 100 - 1000
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    assert data.flags.f_contiguous and not data.flags.c_contiguous

    def volume(voxels: np.ndarray) -> CTVolume:
        return CTVolume(data=voxels, affine=affine, source="nifti", source_name="ct.nii.gz")

    fortran, c_order = volume(data), volume(np.ascontiguousarray(data))
    assert fortran.fingerprint() == c_order.fingerprint()
    digest = hashlib.sha256()  # independent: the header fields, then the voxels as a NIfTI file stores them
    digest.update(b"int16")
    digest.update(np.asarray(data.shape, dtype=np.int64).tobytes())
    digest.update(np.round(affine, 5).tobytes())
    digest.update(data.tobytes(order="F"))
    assert fortran.fingerprint() == digest.hexdigest()
    changed = data.copy(order="F")
    changed[5, 5, 5] += 1
    assert volume(changed).fingerprint() != fortran.fingerprint()
