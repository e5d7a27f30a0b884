"""The PDF's whole-volume reductions (body extent, tissue projections), made slab by slab,
equal the numpy expressions over the whole volume, for a volume stored in any orientation."""

from __future__ import annotations

import numpy as np
import pytest

from body_organ_analysis.imaging import slabs as slab_module
from body_organ_analysis.report.pdf_figures import axial_picks, ras_volumes, summary_cuts


@pytest.mark.parametrize("flip", [(), (0,), (1, 2)])
def test_slab_reductions_equal_whole_volume(monkeypatch, flip):
    monkeypatch.setattr(slab_module, "SLAB_VOXELS", 97)  # ragged slabs
    rng = np.random.default_rng(3)
    regions = np.zeros((30, 24, 18), dtype=np.uint8, order="F")
    regions[4:27, 3:20, 2:16] = rng.integers(0, 3, size=(23, 17, 14))
    tissues = np.asarray(rng.integers(0, 8, size=regions.shape), dtype=np.uint8, order="F")
    hu = np.zeros(regions.shape, dtype=np.int16, order="F")
    affine = np.diag([0.9, 0.9, 2.0, 1.0])
    for axis in flip:  # the same voxels stored flipped: the RAS views must not change
        regions, tissues, hu = (np.flip(a, axis) for a in (regions, tissues, hu))
        affine = affine @ _flip_matrix(axis, regions.shape[axis])
    vol = ras_volumes(hu, affine, tissues, regions, None)
    body = vol.regions > 0
    assert np.array_equal(axial_picks(vol), _picks(body))
    ys, xs = np.flatnonzero(body.any(axis=(0, 2))), np.flatnonzero(body.any(axis=(1, 2)))
    assert summary_cuts(vol) == (int(np.round(ys.mean())), int((xs[0] + xs[-1]) // 2))
    for label in range(1, 8):
        assert np.array_equal(vol.coronal_projection(label), (vol.tissues == label).sum(axis=1, keepdims=True))


def _picks(body: np.ndarray, count: int = 5) -> np.ndarray:
    body_slices = np.flatnonzero(body.any(axis=(0, 1)))
    return np.unique(np.linspace(body_slices[0], body_slices[-1], count + 2)[1:-1].round().astype(int))


def _flip_matrix(axis: int, size: int) -> np.ndarray:
    matrix = np.eye(4)
    matrix[axis, axis] = -1.0
    matrix[axis, 3] = size - 1
    return matrix
