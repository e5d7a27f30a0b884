"""Map a label map on the CT grid (NIfTI, RAS affine) onto the pixels of the source slices.

For DICOM input the label maps lie on the grid of ``image.nii.gz``: the source
slices' pixels, flipped/permuted (LAS by default), without resampling. For each
source image this finds, from its ImagePositionPatient, ImageOrientationPatient
and PixelSpacing, the voxel index of every pixel, checks that each lands on a
voxel centre inside the grid, and reads the label values there. Any orientation
(flips, permuted axes) is handled; a grid that is not the slices' own grid
(resampled, gantry tilt, another series) is refused.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydicom import Dataset

from body_organ_analysis.errors import BoaError
from body_organ_analysis.imaging.orientation import LPS_TO_RAS as LPS_TO_RAS_4X4

TOLERANCE_VOXELS = 0.01
LPS_TO_RAS = LPS_TO_RAS_4X4[:3, :3]
GEOMETRY_KEYWORDS = (
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
)  # fmt: skip


class DicomOutputError(BoaError):
    """The results cannot be turned into DICOM objects for this source series."""


def sort_sources(sources: Sequence[Dataset]) -> list[Dataset]:
    """The source images in order along their slice normal (a stable, deterministic order)."""
    if not sources:
        raise DicomOutputError("No source images were given; DICOM outputs need the analysed series.")
    for ds in sources:
        missing = [k for k in GEOMETRY_KEYWORDS if k not in ds]
        if missing or int(ds.get("NumberOfFrames") or 1) != 1:
            raise DicomOutputError(
                "The source images are not single-frame images with their position, orientation and "
                f"pixel spacing (missing: {', '.join(missing) or 'none'}; multi-frame: "
                f"{int(ds.get('NumberOfFrames') or 1) != 1}). DICOM outputs need the classic CT series."
            )
    if len({str(ds.SeriesInstanceUID) for ds in sources}) != 1:
        raise DicomOutputError("The source images belong to several series; give the analysed series only.")
    orientation = np.asarray(sources[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    return sorted(sources, key=lambda ds: float(np.asarray(ds.ImagePositionPatient, dtype=float) @ normal))


def pixel_indices(source: Dataset, affine: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Voxel indices (i, j, k arrays of shape rows x columns) of every pixel of ``source``."""
    inverse = np.linalg.inv(np.asarray(affine, dtype=float))
    rotation, offset = inverse[:3, :3], inverse[:3, 3]
    orientation = np.asarray(source.ImageOrientationPatient, dtype=float)
    row_spacing, column_spacing = (float(v) for v in source.PixelSpacing)
    origin = LPS_TO_RAS @ np.asarray(source.ImagePositionPatient, dtype=float)
    start = rotation @ origin + offset
    column_step = rotation @ (LPS_TO_RAS @ orientation[:3]) * column_spacing  # next column
    row_step = rotation @ (LPS_TO_RAS @ orientation[3:]) * row_spacing  # next row
    rows = np.arange(int(source.Rows), dtype=float)[:, None, None]
    columns = np.arange(int(source.Columns), dtype=float)[None, :, None]
    exact = start + rows * row_step + columns * column_step  # (rows, columns, 3)
    index = np.rint(exact)
    if np.abs(exact - index).max() > TOLERANCE_VOXELS or (
        (index < 0).any() or (index >= np.asarray(shape[:3])).any()
    ):
        raise DicomOutputError(
            "The label maps do not lie on the pixels of the source series (resampled, gantry "
            "tilt, or another series), so a pixel-aligned DICOM-SEG cannot be made. Deliver the "
            "NIfTI results instead, or analyse the series without resampling."
        )
    index = index.astype(np.intp)
    return index[..., 0], index[..., 1], index[..., 2]


def sample_frames(volume: np.ndarray, affine: np.ndarray, sources: Sequence[Dataset]) -> np.ndarray:
    """``volume`` read at the pixels of each source image: (images, rows, columns)."""
    return np.stack([volume[pixel_indices(ds, affine, volume.shape)] for ds in sources])
