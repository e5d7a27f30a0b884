"""Checks every CT passes before any work starts."""

from __future__ import annotations

import numpy as np

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.volume import CTVolume

MIN_SLICES = 10


def check_volume(volume: CTVolume) -> CTVolume:
    data = volume.data
    if data.ndim != 3:
        raise InputError(
            f"The image has {data.ndim} dimensions; a CT volume has 3. Give a single 3-D CT.",
            ExitCode.BAD_DIMENSIONS,
        )
    if min(data.shape) < MIN_SLICES:
        raise InputError(
            f"The image has only {min(data.shape)} slices along one axis; at least "
            f"{MIN_SLICES} are needed. Give the whole CT series.",
            ExitCode.BAD_DIMENSIONS,
        )
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise InputError(
            "The image contains NaN or infinite voxels. Export the CT again.",
            ExitCode.BAD_VOXELS,
        )
    return volume
