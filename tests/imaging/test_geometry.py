"""Where voxels end up: the affine maps voxel indices to RAS+ mm, for any acquisition."""

from __future__ import annotations

import random

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.imaging import load_ct
from body_organ_analysis.demo.dicom_series import MARKER_HU, phantom, write_ct_series

ROWS, COLUMNS, SLICES = 30, 26, 12
SPACING = (0.7, 0.9)  # between rows, between columns


def marker_ras(origin, orientation, slice_spacing, marker) -> np.ndarray:
    """Where the marker (slice, row, column) lies, in RAS mm, computed from the DICOM rules."""
    k, r, c = marker
    row_dir, col_dir = np.array(orientation[:3], float), np.array(orientation[3:], float)
    normal = np.cross(row_dir, col_dir)
    lps = np.asarray(origin) + k * slice_spacing * normal + c * SPACING[1] * row_dir + r * SPACING[0] * col_dir
    return lps * [-1, -1, 1]


@pytest.mark.parametrize(
    "orientation",
    [(1, 0, 0, 0, 1, 0), (-1, 0, 0, 0, -1, 0), (0, 1, 0, 0, 0, -1), (1, 0, 0, 0, 0, -1),
     (0.8660254, 0.5, 0, -0.5, 0.8660254, 0)],
    ids=["axial", "axial-rotated-180", "sagittal", "coronal", "axial-oblique-30"],
)  # fmt: skip
def test_marker_lies_where_dicom_puts_it(orientation, tmp_path):
    marker = (7, 5, 18)
    origin = (12.5, -80.0, 300.0)
    paths = write_ct_series(tmp_path, phantom(SLICES, ROWS, COLUMNS, marker), pixel_spacing=SPACING,
                            slice_spacing=2.5, origin=origin, orientation=orientation)  # fmt: skip
    random.Random(1).shuffle(paths)  # file order must not matter
    ct = load_ct(tmp_path)
    (ijk,) = np.argwhere(ct.data == MARKER_HU)
    assert np.allclose((ct.affine @ [*ijk, 1])[:3], marker_ras(origin, orientation, 2.5, marker), atol=1e-4)
    assert nib.aff2axcodes(ct.affine) == ("L", "A", "S")
    assert ct.notes == []


def test_reverse_ordered_slices_sort_along_the_normal(tmp_path):
    """Slices stored head-to-feet with instance numbers reversed: order comes from positions."""
    marker = (2, 3, 4)
    positions = [(0.0, 0.0, 50.0 - 3.0 * k) for k in range(SLICES)]
    write_ct_series(tmp_path, phantom(SLICES, ROWS, COLUMNS, marker), pixel_spacing=SPACING, positions=positions)
    ct = load_ct(tmp_path)
    (ijk,) = np.argwhere(ct.data == MARKER_HU)
    assert np.allclose((ct.affine @ [*ijk, 1])[:3], [-4 * SPACING[1], -3 * SPACING[0], 44.0], atol=1e-4)
    assert ct.spacing[2] == pytest.approx(3.0)


def test_gantry_tilt_is_resampled_onto_a_rectangular_grid(tmp_path):
    """A 15 degree tilt: slice k is shifted by k * gap * tan(15 deg) along the column direction."""
    tilt = np.radians(15.0)
    gap = 2.0
    hu = phantom(SLICES, 40, COLUMNS)
    hu[:, 20, 10] = MARKER_HU  # a rod through all slices, at row 20 of every tilted slice
    positions = [(0.0, k * gap * np.tan(tilt), 100.0 + k * gap) for k in range(SLICES)]
    write_ct_series(tmp_path, hu, pixel_spacing=(1.0, 1.0), positions=positions)
    ct = load_ct(tmp_path)
    assert any("gantry tilt of 15.00 degrees resampled" in note for note in ct.notes)
    assert ct.data.dtype == np.float32
    assert np.allclose(ct.affine[:3, :3], np.diag([-1.0, 1.0, gap]))  # rectangular, untilted
    for k in range(SLICES):
        column = ct.data[:, :, k]
        i, j = np.unravel_index(np.argmax(column), column.shape)
        # the rod at row 20 of slice k lies at LPS y = 20 + k*gap*tan(tilt): find it on the grid
        expected_y_lps = 20.0 + k * gap * np.tan(tilt)
        y_ras = (ct.affine @ [i, j, k, 1])[1]
        assert abs(-y_ras - expected_y_lps) <= 0.5 + 1e-6
        # the interpolated peak keeps most of the rod's value
        assert column.max() > 0.5 * MARKER_HU
    assert (ct.data[:, :, -1] == -1024).any()  # air flows in where the shifted field of view ends
