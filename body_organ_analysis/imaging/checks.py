"""Checks every CT passes before any work starts.

:func:`check_size` runs on header values, before a voxel is allocated;
:func:`check_volume` on the loaded volume. Each failure is an
:class:`InputError` with its own exit code and a message that says what to do.
"""

from __future__ import annotations

import numpy as np

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.orientation import voxel_spacing
from body_organ_analysis.imaging.volume import CTVolume

MIN_SLICES = 10
MAX_EDGE_VOXELS = 8192  # no CT has more voxels along one axis than this
MAX_VOXELS = 1 << 30  # 2 GiB as int16; a whole-body CT at 0.6 mm is about 0.5e9
ORTHONORMAL_TOLERANCE = 1e-3
SPACING_RANGE_MM = (0.05, 30.0)  # a CT's voxels: about 0.2-1 mm in-plane, 0.5-10 mm slices
# Hounsfield units: air is about -1000, fat about -100, so every CT holds values
# below AIR_OR_FAT_HU; values beyond the scanner's range mean it is not HU.
AIR_OR_FAT_HU = -200.0
HU_RANGE = (-32768.0, 32767.0)
SAMPLE_VOXELS = 2_000_000


def capital(text: str) -> str:
    """``text`` with its first letter upper case (messages that start with a place name)."""
    return text[:1].upper() + text[1:]


def check_size(shape: tuple[int, ...], what: str) -> None:
    """Refuse a header that claims an absurd size, before allocating anything."""
    edges = [int(s) for s in shape]
    voxels = int(np.prod(edges, dtype=object))
    if max(edges, default=0) > MAX_EDGE_VOXELS or voxels > MAX_VOXELS:
        raise InputError(
            f"The header of {what} claims an image of {' x '.join(map(str, edges))} voxels "
            f"({voxels:,} in all); the limit is {MAX_EDGE_VOXELS} along an axis and "
            f"{MAX_VOXELS:,} in all. The header is damaged or this is not a CT; nothing was "
            "loaded. Export the CT again.",
            ExitCode.BAD_DIMENSIONS,
        )


def check_dimensions(shape: tuple[int, ...], what: str) -> None:
    if len(shape) != 3:
        raise InputError(
            f"{capital(what)} has {len(shape)} dimension(s) {tuple(shape)}; a CT volume has 3. "
            "Give one 3-D CT (not a single slice, not a time series).",
            ExitCode.BAD_DIMENSIONS,
        )
    if min(shape) < MIN_SLICES:
        raise InputError(
            f"{capital(what)} has only {min(shape)} slice(s) along one axis; at least {MIN_SLICES} are "
            "needed. Give the whole CT series.",
            ExitCode.BAD_DIMENSIONS,
        )


def check_direction(affine: np.ndarray, what: str) -> None:
    """The voxel axes must be perpendicular with a positive, finite spacing."""
    matrix = np.asarray(affine, dtype=np.float64)[:3, :3]
    spacing = np.asarray(voxel_spacing(affine))
    if not np.isfinite(affine).all() or (spacing <= 0).any():
        raise InputError(
            f"The geometry (affine) of {what} is invalid: a voxel spacing is zero or not a "
            "number. Export the CT again.",
            ExitCode.BAD_GEOMETRY,
        )
    check_spacing(spacing, what)
    axes = matrix / spacing
    if np.abs(axes.T @ axes - np.eye(3)).max() > ORTHONORMAL_TOLERANCE:
        raise InputError(
            f"The voxel axes of {what} are not perpendicular (a sheared grid, e.g. from an "
            "uncorrected gantry tilt). Resample the CT onto a rectangular grid, or give the "
            "DICOM series, whose gantry tilt is resampled.",
            ExitCode.BAD_GEOMETRY,
        )


def check_spacing(spacing_mm, what: str) -> None:
    """Voxel spacings a CT can have: refuse zero, microscopic or metre-sized voxels."""
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    low, high = SPACING_RANGE_MM
    if not np.isfinite(spacing).all() or (spacing < low).any() or (spacing > high).any():
        shown = " x ".join(f"{s:g}" for s in spacing)
        raise InputError(
            f"The voxel spacing of {what} is {shown} mm; a CT's spacing lies between {low:g} and "
            f"{high:g} mm. The header's spacing (NIfTI pixdim/affine, DICOM PixelSpacing or slice "
            "positions) is damaged or in the wrong unit. Export the CT again.",
            ExitCode.BAD_GEOMETRY,
        )


def check_voxels(data: np.ndarray, what: str) -> None:
    """Finite values that look like Hounsfield units."""
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise InputError(
            f"{capital(what)} contains NaN or infinite voxels. Export the CT again without them.",
            ExitCode.BAD_VOXELS,
        )
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise InputError(
            f"{capital(what)} holds {data.dtype} voxels; a CT holds one number per voxel.",
            ExitCode.NOT_CT,
        )
    step = max(1, int(data.size // SAMPLE_VOXELS))
    sample = np.asarray(data)[np.unravel_index(np.arange(0, data.size, step), data.shape)]  # C order, no copy
    low, high = (float(v) for v in np.percentile(sample, [1, 99.9]))
    lowest, highest = float(sample.min()), float(sample.max())
    if low > AIR_OR_FAT_HU or lowest < HU_RANGE[0] or highest > HU_RANGE[1] or high < AIR_OR_FAT_HU:
        raise InputError(
            f"The voxel values of {what} do not look like Hounsfield units (1st percentile "
            f"{low:.0f}, 99.9th percentile {high:.0f}; a CT has air near -1000 and fat near "
            "-100). It may be another modality (MR, PET), a normalised image or stored values "
            "without their rescale. Give the CT in Hounsfield units.",
            ExitCode.NOT_CT,
        )


def check_volume(volume: CTVolume, what: str) -> CTVolume:
    check_dimensions(volume.data.shape, what)
    check_direction(volume.affine, what)
    check_voxels(volume.data, what)
    return volume


def as_hounsfield(values: np.ndarray) -> np.ndarray:
    """int16 where every value is a whole number in int16's range, else float32."""
    if values.dtype == np.int16:
        return values
    if np.issubdtype(values.dtype, np.integer):
        if values.size == 0 or (values.min() >= -32768 and values.max() <= 32767):
            return values.astype(np.int16)
        return values.astype(np.float32)
    finite = np.isfinite(values).all()
    if finite and values.size and values.min() >= -32768 and values.max() <= 32767:
        if np.array_equal(values, np.rint(values)):
            return values.astype(np.int16)
    return values.astype(np.float32)
