"""imaging/orientation.py against nibabel and hand-made grids."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.imaging import orientation as o


def grid(codes: str, shape=(6, 5, 4), spacing=(2.0, 3.0, 4.0)) -> tuple[np.ndarray, np.ndarray]:
    """A labelled RAS volume and the same voxels stored towards ``codes`` (via nibabel)."""
    data = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-10.0, 20.0, 30.0]
    image = nib.Nifti1Image(data, affine)
    moved = image.as_reoriented(nib.orientations.ornt_transform(
        nib.orientations.io_orientation(affine), nib.orientations.axcodes2ornt(tuple(codes))))
    return np.asarray(moved.dataobj), moved.affine


@pytest.mark.parametrize("codes", ["RAS", "LAS", "LPS", "PIR", "SLA"])
def test_reorientation_round_trip_and_world_positions(codes):
    ras, ras_affine = grid("RAS")
    stored, affine = grid(codes)
    assert o.axis_codes(affine) == tuple(codes)
    change = o.reorientation(affine, stored.shape)
    np.testing.assert_array_equal(change.forward(stored), ras)
    np.testing.assert_allclose(change.affine, ras_affine)
    assert change.spacing == (2.0, 3.0, 4.0)
    np.testing.assert_array_equal(change.back(change.forward(stored)), stored)
    # one voxel's world position does not depend on the storage order
    index = np.argwhere(stored == 37)[0]
    same = o.world_coordinates(ras_affine, np.argwhere(ras == 37)[0])
    np.testing.assert_allclose(o.world_coordinates(affine, index), same)
    assert o.world_axis(affine, o.array_axis(affine, 2)) == 2


def test_spacing_and_lps():
    affine = np.array([[0.0, 0, -2.5, 1], [0, 0.8, 0, 2], [1.5, 0, 0, 3], [0, 0, 0, 1]])
    assert o.voxel_spacing(affine) == pytest.approx((1.5, 0.8, 2.5))
    np.testing.assert_allclose(o.lps_to_ras([10.0, -20.0, 30.0]), [-10.0, 20.0, 30.0])
    np.testing.assert_allclose(o.ras_to_lps(o.lps_to_ras([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])
    assert nib.orientations.aff2axcodes(o.LPS_TO_RAS @ np.diag([1.0, 1, 1, 1])) == ("L", "P", "S")


def test_patient_side_uses_the_body_midline_not_x0():
    body = np.zeros((20, 4, 4), dtype=bool)
    body[4:16] = True  # world x 100 + 2 * (4..15): 108..130 mm, midline 119 mm
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[0, 3] = 100.0
    assert o.body_midline_x(body, affine) == pytest.approx(119.0)
    assert o.patient_side(125.0, 119.0) == "right"  # larger RAS x: the patient's right
    assert o.patient_side(110.0, 119.0) == "left"  # although x > 0


def test_display_plane_is_radiological():
    ras = np.zeros((3, 4, 5), dtype=int)
    ras[2, 3, 1] = 1  # most right, most anterior voxel of slice 1
    axial = o.display_plane(ras, "axial", 1)
    assert axial.shape == (4, 3) and axial[0, 0] == 1  # anterior at the top, right on the viewer's left
    ras[:] = 0
    ras[2, 1, 4] = 1  # most right, most superior
    coronal = o.display_plane(ras, "coronal", 1)
    assert coronal.shape == (5, 3) and coronal[0, 0] == 1  # head at the top, right on the left
    ras[:] = 0
    ras[0, 3, 4] = 1  # most anterior, most superior
    sagittal = o.display_plane(ras, "sagittal", 0)
    assert sagittal.shape == (5, 4) and sagittal[0, 0] == 1  # head at the top, anterior on the left
    assert o.EDGE_LETTERS["axial"] == ("A", "P", "R", "L")
    assert o.display_pixel_mm((1.0, 2.0, 3.0), "coronal") == (3.0, 1.0)
