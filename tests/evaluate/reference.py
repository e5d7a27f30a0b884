"""An independent Dice/NSD for the tests: scipy erosion for surfaces, a k-d tree over mm coordinates for distances."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def surface_points_mm(mask: np.ndarray, spacing, structure=None) -> np.ndarray:
    eroded = ndimage.binary_erosion(mask, structure=structure, border_value=0)
    return np.argwhere(mask & ~eroded) * np.asarray(spacing, dtype=float)


def reference_nsd(pred: np.ndarray, ref: np.ndarray, spacing, tolerance_mm: float, structure=None) -> float:
    a, b = surface_points_mm(pred, spacing, structure), surface_points_mm(ref, spacing, structure)
    if len(a) + len(b) == 0:
        return math.nan
    if len(a) == 0 or len(b) == 0:
        return 0.0
    a_to_b = cKDTree(b).query(a)[0]
    b_to_a = cKDTree(a).query(b)[0]
    return (np.sum(a_to_b <= tolerance_mm) + np.sum(b_to_a <= tolerance_mm)) / (len(a) + len(b))


def reference_dice(pred: np.ndarray, ref: np.ndarray) -> float:
    total = pred.sum() + ref.sum()
    return math.nan if total == 0 else 2 * np.logical_and(pred, ref).sum() / total


def ball(shape, centre, radius_mm, spacing) -> np.ndarray:
    grid = np.indices(shape).astype(float)
    distance2 = sum(((grid[i] - centre[i]) * spacing[i]) ** 2 for i in range(3))
    return distance2 <= radius_mm**2
