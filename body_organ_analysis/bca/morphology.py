"""Fast morphology helpers for the threshold engine: per-slice 2-D operations on 3-D masks.

Arrays are indexed (x, y, z) with z the axial axis. Every operation works on
whole volumes at once (scipy.ndimage with in-plane structuring elements), so
nothing loops over slices in Python.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from body_organ_analysis.labelmap import is_fortran


def disk(radius_px: int) -> np.ndarray:
    """In-plane disk structuring element of shape (2r+1, 2r+1, 1)."""
    r = max(int(radius_px), 0)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y <= r * r + r)[:, :, None]  # "+ r": rounder small disks


CROSS_2D = ndimage.generate_binary_structure(2, 1)[:, :, None]
SQUARE_2D = np.zeros((3, 3, 3), dtype=bool)  # in-plane 8-connectivity, for ndimage.label
SQUARE_2D[:, :, 1] = True


CROSS_LABEL_2D = np.zeros((3, 3, 3), dtype=bool)  # in-plane 4-connectivity, for ndimage.label
CROSS_LABEL_2D[:, :, 1] = ndimage.generate_binary_structure(2, 1)


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice (a hole is background not connected to the slice border).

    One labelling of the background instead of scipy's iterative fill.
    """
    background = ~mask
    labels, count = ndimage.label(background, structure=CROSS_LABEL_2D)
    if count == 0:
        return mask.copy()
    outside = np.zeros(count + 1, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[np.unique(edge)] = True
    outside[0] = True  # label 0 is the mask itself
    return ~outside[labels] | mask


SMALL_RADIUS = 2  # above this, distance transforms beat structuring elements


def _edt_2d(mask: np.ndarray, sampling: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """In-plane distance of every True voxel to the nearest False one, slice by slice.

    A slice without any False voxel gets a huge distance. (A per-slice 2-D
    transform is several times faster than a 3-D one with a huge z spacing.)
    """
    out = np.zeros(mask.shape, dtype=np.float32)
    any_true = mask.any(axis=(0, 1))
    all_true = mask.all(axis=(0, 1))
    for z in np.flatnonzero(any_true):
        if all_true[z]:
            out[:, :, z] = 1e9
        else:
            out[:, :, z] = ndimage.distance_transform_edt(mask[:, :, z], sampling=sampling)
    return out


def dilate_2d(mask: np.ndarray, radius_px: int) -> np.ndarray:
    if radius_px <= 0:
        return mask.copy()
    if radius_px <= SMALL_RADIUS:
        return ndimage.binary_dilation(mask, structure=disk(radius_px))
    if not mask.any():
        return mask.copy()
    return _edt_2d(~mask) <= radius_px + 0.5


def erode_2d(mask: np.ndarray, radius_px: int) -> np.ndarray:
    if radius_px <= 0:
        return mask.copy()
    if radius_px <= SMALL_RADIUS:
        return ndimage.binary_erosion(mask, structure=disk(radius_px), border_value=0)
    padded = np.pad(mask, ((1, 1), (1, 1), (0, 0)))
    return (_edt_2d(padded) > radius_px + 0.5)[1:-1, 1:-1, :]


def close_2d(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Closing without the border artefacts of scipy's (pads in-plane first)."""
    if radius_px <= 0:
        return mask.copy()
    pad = radius_px + 1
    padded = np.pad(mask, ((pad, pad), (pad, pad), (0, 0)))
    closed = erode_2d(dilate_2d(padded, radius_px), radius_px)
    return closed[pad:-pad, pad:-pad, :]


def open_2d(mask: np.ndarray, radius_px: int) -> np.ndarray:
    if radius_px <= 0:
        return mask.copy()
    return dilate_2d(erode_2d(mask, radius_px), radius_px)


def largest_component_3d(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def remove_small_2d(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """Drop in-plane connected components smaller than ``min_pixels``."""
    labels, count = ndimage.label(mask, structure=SQUARE_2D)
    if count == 0:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]


def inplane_distance_mm(mask: np.ndarray, spacing_xy: tuple[float, float]) -> np.ndarray:
    """Distance (mm) of each mask voxel to the nearest background voxel in its own slice."""
    padded = np.pad(mask, ((1, 1), (1, 1), (0, 0)))
    return _edt_2d(padded, spacing_xy)[1:-1, 1:-1, :]


def block_reduce_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor in-plane blocks (edges padded by replication).

    Works in the array's own memory order (nibabel gives Fortran order), so
    the full-resolution volume is read once, in order, and never copied.
    """
    if factor == 1:
        return data.astype(np.float32)
    if is_fortran(data):  # (x, y, z) in Fortran order is (z, y, x) in C order
        return _reduce_mean_leading_z(data.T, factor).T
    nx, ny, nz = data.shape
    px, py = (-nx) % factor, (-ny) % factor
    if px or py:
        data = np.pad(data, ((0, px), (0, py), (0, 0)), mode="edge")
    shaped = data.reshape(data.shape[0] // factor, factor, data.shape[1] // factor, factor, nz)
    return shaped.mean(axis=(1, 3), dtype=np.float32)


def _reduce_mean_leading_z(data: np.ndarray, factor: int) -> np.ndarray:
    nz, ny, nx = data.shape
    py, px = (-ny) % factor, (-nx) % factor
    if px or py:
        data = np.pad(data, ((0, 0), (0, py), (0, px)), mode="edge")
    shaped = data.reshape(nz, data.shape[1] // factor, factor, data.shape[2] // factor, factor)
    return shaped.mean(axis=(2, 4), dtype=np.float32)


def block_reduce_any(mask: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return mask.copy()
    nx, ny, nz = mask.shape
    px, py = (-nx) % factor, (-ny) % factor
    if px or py:
        mask = np.pad(mask, ((0, px), (0, py), (0, 0)))
    shaped = mask.reshape(mask.shape[0] // factor, factor, mask.shape[1] // factor, factor, nz)
    return shaped.any(axis=(1, 3))


def upsample_labels(
    coarse: np.ndarray, factor: int, shape: tuple[int, int, int], fortran: bool = False
) -> np.ndarray:
    """Nearest-neighbour upsampling of a block-reduced map back to ``shape``."""
    if factor == 1:
        return coarse
    if fortran:  # build it in Fortran order, like the CT it will be compared with
        full_t = np.repeat(np.repeat(np.ascontiguousarray(coarse.T), factor, axis=1), factor, axis=2)
        return full_t[:, : shape[1], : shape[0]].T
    full = np.repeat(np.repeat(coarse, factor, axis=0), factor, axis=1)
    return full[: shape[0], : shape[1], :]
