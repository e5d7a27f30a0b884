"""Dice and normalized surface Dice (NSD) of one label, in world millimetres.

Surfaces are the boundary voxels of a mask: voxels of the mask with a
face-neighbour outside it (the image border counts as outside). Distances come
from ``scipy.ndimage.distance_transform_edt`` with ``sampling`` = voxel spacing,
so anisotropic voxels are measured in mm. NSD at tolerance tau is the share of
both surfaces lying within tau of the other surface (Nikolov et al. 2021,
voxel-counting form, as MONAI's ``compute_surface_dice``).

Ignored voxels (``known`` False, e.g. reference value 255 in SAROS) are left
out of both measures: they are never counted for Dice, never surface points, and
a neighbour that is ignored does not make a voxel a boundary voxel (its label is
unknown). A label absent from both prediction and reference is not applicable:
Dice and NSD are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class LabelScore:
    dice: float
    nsd: float
    pred_voxels: int
    ref_voxels: int
    overlap_voxels: int


def boundary(mask: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """Voxels of ``mask`` with a known face-neighbour outside the mask (or beyond the image)."""
    if known is None:
        return mask & ~ndimage.binary_erosion(mask, border_value=0)
    inside = np.pad(mask, 1, constant_values=False)
    seen = np.pad(known, 1, constant_values=True)  # beyond the image: known to be outside
    centre = tuple(slice(1, -1) for _ in range(mask.ndim))
    edge = np.zeros(mask.shape, dtype=bool)
    for axis in range(mask.ndim):
        for step in (-1, 1):
            shifted = tuple(
                slice(1 + step, mask.shape[a] + 1 + step) if a == axis else centre[a] for a in range(mask.ndim)
            )
            edge |= seen[shifted] & ~inside[shifted]
    return mask & known & edge


def dice(pred: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    overlap = int(np.count_nonzero(pred & ref))
    total = int(np.count_nonzero(pred)) + int(np.count_nonzero(ref))
    return (math.nan if total == 0 else 2.0 * overlap / total), overlap


def surface_dice(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], tolerance_mm: float,
    known: np.ndarray | None = None,
) -> float:
    surface_pred, surface_ref = boundary(pred, known), boundary(ref, known)
    n_pred, n_ref = int(surface_pred.sum()), int(surface_ref.sum())
    if n_pred + n_ref == 0:
        return math.nan
    if n_pred == 0 or n_ref == 0:
        return 0.0
    box = _bounding_box(surface_pred | surface_ref, margin_mm=tolerance_mm, spacing=spacing)
    surface_pred, surface_ref = surface_pred[box], surface_ref[box]
    to_ref = ndimage.distance_transform_edt(~surface_ref, sampling=spacing)
    to_pred = ndimage.distance_transform_edt(~surface_pred, sampling=spacing)
    close = np.count_nonzero(to_ref[surface_pred] <= tolerance_mm) + np.count_nonzero(to_pred[surface_ref] <= tolerance_mm)
    return close / (n_pred + n_ref)


def _bounding_box(mask: np.ndarray, margin_mm: float, spacing: tuple[float, ...]) -> tuple[slice, ...]:
    """The box around ``mask`` grown by the tolerance: distances within it are the same as in the whole image."""
    box = []
    for axis, (low, high) in enumerate(_extent(mask)):
        pad = int(math.ceil(margin_mm / spacing[axis])) + 1
        box.append(slice(max(0, low - pad), min(mask.shape[axis], high + 1 + pad)))
    return tuple(box)


def _extent(mask: np.ndarray) -> list[tuple[int, int]]:
    extent = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        where = np.flatnonzero(mask.any(axis=others))
        extent.append((int(where[0]), int(where[-1])))
    return extent


def score_label(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], tolerance_mm: float,
    known: np.ndarray | None = None,
) -> LabelScore:
    """Dice and NSD of two boolean masks on the same grid; ``known`` False = ignored voxels."""
    if known is not None and known.all():
        known = None
    if known is not None:
        pred, ref = pred & known, ref & known
    value, overlap = dice(pred, ref)
    nsd = math.nan if math.isnan(value) else surface_dice(pred, ref, spacing, tolerance_mm, known)
    return LabelScore(value, nsd, int(pred.sum()), int(ref.sum()), overlap)
