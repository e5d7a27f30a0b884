"""Whole-volume passes one slab at a time: temporaries of one slab, never of the volume."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from body_organ_analysis.labelmap import is_fortran

SLAB_VOXELS = 1 << 21  # full-size temporaries shrink to one slab of about this many voxels


def slowest_axis(array: np.ndarray) -> int:
    """The axis that changes slowest in ``array``'s memory (nibabel hands out Fortran order)."""
    return array.ndim - 1 if is_fortran(array) else 0


def slabs(array: np.ndarray, axis: int | None = None, voxels: int | None = None) -> Iterator[tuple[slice, ...]]:
    """Index tuples of consecutive slabs of about ``voxels`` (default :data:`SLAB_VOXELS`)
    voxels along ``axis`` (default: the axis slowest in memory: a slab is one block of it)."""
    axis = slowest_axis(array) if axis is None else axis
    voxels = SLAB_VOXELS if voxels is None else voxels
    per_slab = max(1, voxels * array.shape[axis] // max(1, array.size))
    for start in range(0, array.shape[axis], per_slab):
        yield tuple(slice(start, start + per_slab) if a == axis else slice(None) for a in range(array.ndim))


def nonzero_along_axes(array: np.ndarray) -> list[np.ndarray]:
    """For each axis, which of its indices hold any non-zero voxel
    (``array.any(axis=<the others>)`` for every axis, in one pass)."""
    axis = slowest_axis(array)
    found = [np.zeros(n, dtype=bool) for n in array.shape]
    for slab in slabs(array, axis):
        part = array[slab] != 0
        for k in range(array.ndim):
            hit = part.any(axis=tuple(a for a in range(array.ndim) if a != k))
            if k == axis:
                found[k][slab[axis]] = hit
            else:
                found[k] |= hit
    return found
