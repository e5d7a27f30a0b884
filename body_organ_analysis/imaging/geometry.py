"""Where the slices of a DICOM stack lie, checked, as one voxel grid.

The grid: voxel (i, j, k) = (column, row, slice), slices sorted along the
slice normal. :func:`stack_geometry` refuses stacks whose slices are missing,
unevenly spaced, at the same position or not orthonormal, and recognises a
gantry tilt (slices sheared along the column direction), which the loader then
resamples (see dicom.py). :func:`to_las` turns any grid into the LAS
orientation that dicom2nifti and TotalSegmentator write for DICOM input.
Conventions (RAS+ world, LPS conversion) live in orientation.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.checks import ORTHONORMAL_TOLERANCE, capital
from body_organ_analysis.imaging.orientation import LPS_TO_RAS, reorient
from body_organ_analysis.imaging.slices import SliceRef

SPACING_TOLERANCE = 0.02  # relative deviation of one gap from the median gap
POSITION_TOLERANCE_MM = 0.01
MAX_TILT_DEGREES = 45.0


@dataclass
class StackGeometry:
    slices: list[SliceRef]  # sorted along the slice normal
    affine: np.ndarray  # voxel (column, row, slice) -> RAS mm, on the orthogonal grid
    shifts_mm: np.ndarray  # per slice, in-plane offset along the column direction (tilt), mm
    tilt_degrees: float


def stack_geometry(slices: list[SliceRef], where: str) -> StackGeometry:
    first = slices[0]
    if first.orientation is None or first.pixel_spacing is None or any(
        s.position is None for s in slices
    ):
        raise InputError(
            f"The images of {where} lack their position, orientation or pixel spacing "
            "(ImagePositionPatient, ImageOrientationPatient, PixelSpacing), so they cannot be "
            "placed in space. Export the original CT series from the scanner or PACS.",
            ExitCode.BAD_GEOMETRY,
        )
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    if (
        abs(np.linalg.norm(row_dir) - 1) > ORTHONORMAL_TOLERANCE
        or abs(np.linalg.norm(col_dir) - 1) > ORTHONORMAL_TOLERANCE
        or abs(float(row_dir @ col_dir)) > ORTHONORMAL_TOLERANCE
    ):
        raise InputError(
            f"The image orientation of {where} is not orthonormal (its row and column "
            "directions are not perpendicular unit vectors). The file headers are damaged; "
            "export the series again.",
            ExitCode.BAD_GEOMETRY,
        )
    row_dir = row_dir / np.linalg.norm(row_dir)
    col_dir = col_dir / np.linalg.norm(col_dir)
    normal = np.cross(row_dir, col_dir)
    positions = np.array([s.position for s in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    slices = [slices[i] for i in order]
    positions, along = positions[order], along[order]
    _check_spacing(along, where)
    spacing = (along[-1] - along[0]) / (len(slices) - 1)
    offsets = positions - positions[0] - np.outer(along - along[0], normal)
    shifts = offsets @ col_dir
    residual = offsets - np.outer(shifts, col_dir)
    if np.abs(residual).max() > max(POSITION_TOLERANCE_MM, 0.05 * min(first.pixel_spacing)):
        raise InputError(
            f"The slices of {where} do not form a regular stack: their positions are shifted "
            "sideways against each other. Export the original axial series.",
            ExitCode.BAD_GEOMETRY,
        )
    tilt = float(np.degrees(np.arctan2(abs(shifts[-1]), along[-1] - along[0])))
    if np.abs(shifts).max() <= POSITION_TOLERANCE_MM:
        shifts = np.zeros_like(shifts)
        tilt = 0.0
    elif not np.allclose(shifts, shifts[-1] * (along - along[0]) / (along[-1] - along[0]), atol=0.05):
        raise InputError(
            f"The slices of {where} are shifted against each other irregularly (not a gantry "
            "tilt). Export the original axial series.",
            ExitCode.BAD_GEOMETRY,
        )
    if tilt > MAX_TILT_DEGREES:
        raise InputError(
            f"The gantry tilt of {where} is {tilt:.0f} degrees; at most {MAX_TILT_DEGREES:.0f} "
            "can be resampled. Export an untilted reconstruction.",
            ExitCode.BAD_GEOMETRY,
        )
    row_spacing, column_spacing = first.pixel_spacing
    lps = np.eye(4)
    lps[:3, 0] = row_dir * column_spacing  # i steps along a row: from column to column
    lps[:3, 1] = col_dir * row_spacing  # j steps down a column: from row to row
    lps[:3, 2] = normal * spacing
    lps[:3, 3] = positions[0]
    return StackGeometry(slices, LPS_TO_RAS @ lps, shifts, tilt)


def _check_spacing(along: np.ndarray, where: str) -> None:
    gaps = np.diff(along)
    if (gaps < POSITION_TOLERANCE_MM).any():
        raise InputError(
            f"{capital(where)} has {int((gaps < POSITION_TOLERANCE_MM).sum()) + 1} images at the same "
            "position: it mixes several acquisitions or reconstructions. Choose one with "
            "--series-uid or export a single reconstruction.",
            ExitCode.BAD_GEOMETRY,
        )
    median = float(np.median(gaps))
    deviation = np.abs(gaps - median) / median
    if deviation.max() <= SPACING_TOLERANCE:
        return
    multiples = gaps / median
    if np.all(np.abs(multiples - np.rint(multiples)) <= SPACING_TOLERANCE):
        missing = int(np.rint(multiples).sum() - len(gaps))
        raise InputError(
            f"{capital(where)} is missing {missing} slice(s): the slices are {median:.2f} mm apart, "
            f"but {int((multiples > 1.5).sum())} gap(s) are wider. Export the complete series "
            "(all its images).",
            ExitCode.BAD_GEOMETRY,
        )
    raise InputError(
        f"The slices of {where} are unevenly spaced ({gaps.min():.2f} to {gaps.max():.2f} mm "
        "apart). Export a reconstruction with a constant slice spacing.",
        ExitCode.BAD_GEOMETRY,
    )


def to_las(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels, flipped/permuted exactly so the axes point to L, A and S."""
    return reorient(data, affine, ("L", "A", "S"))
