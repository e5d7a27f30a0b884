"""The one place that knows orientation conventions; every other module asks here.

Convention: world coordinates are NIfTI RAS+ millimetres. +x points to the
patient's RIGHT, +y anterior, +z superior (head). DICOM uses LPS+: +x to the
patient's left, +y posterior, +z superior; :data:`LPS_TO_RAS` converts.

Arrays are indexed (i, j, k) as nibabel reads them; their ``affine`` maps
indices to RAS+ mm. Code that needs a known axis order asks for a
:class:`Reorientation` to the canonical order ``RAS`` (axis 0 runs towards the
patient's right, axis 1 towards anterior, axis 2 towards the head), works
there, and maps results back with :meth:`Reorientation.back`. Flips and
permutations are exact (nibabel.orientations), nothing is resampled.

Sides are decided against the body's own midline (:func:`body_midline_x`),
never against x = 0, which scanners do not promise to put in the patient.

Figures are radiological (:func:`display_plane`): axial images with anterior
at the top and the patient's right on the viewer's left; coronal images with
the head at the top and the patient's right on the viewer's left; sagittal
images with the head at the top and anterior on the viewer's left.
:data:`EDGE_LETTERS` names each panel's edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import nibabel as nib
import numpy as np

from body_organ_analysis.imaging.slabs import slabs

CANONICAL = ("R", "A", "S")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])  # its own inverse
RAS_TO_LPS = LPS_TO_RAS
View = Literal["axial", "coronal", "sagittal"]
Side = Literal["right", "left"]

# (top, bottom, left, right) edge of each displayed panel
EDGE_LETTERS: dict[str, tuple[str, str, str, str]] = {
    "axial": ("A", "P", "R", "L"),
    "coronal": ("H", "F", "R", "L"),
    "sagittal": ("H", "F", "A", "P"),
}


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size (mm) along each array axis (the lengths of the affine's first three columns)."""
    matrix = np.asarray(affine, dtype=float)[:3, :3]
    return tuple(float(s) for s in np.sqrt((matrix**2).sum(axis=0)))  # type: ignore[return-value]


def lps_to_ras(points: np.ndarray) -> np.ndarray:
    """DICOM patient coordinates (..., 3) to RAS+ world coordinates (and back: same map)."""
    return np.asarray(points, dtype=float) * LPS_TO_RAS.diagonal()[:3]


ras_to_lps = lps_to_ras


def axis_codes(affine: np.ndarray) -> tuple[str, str, str]:
    """The direction each array axis runs towards, e.g. ('L', 'P', 'S')."""
    return tuple(nib.orientations.aff2axcodes(affine))  # type: ignore[return-value]


def world_axis(affine: np.ndarray, array_axis: int) -> int:
    """The RAS axis (0 x, 1 y, 2 z) closest to ``array_axis``."""
    return int(nib.orientations.io_orientation(affine)[array_axis, 0])


def array_axis(affine: np.ndarray, world: int) -> int:
    """The array axis closest to RAS axis ``world`` (2: the head-feet axis)."""
    return axis_towards(affine, world)[0]


def axis_towards(affine: np.ndarray, world: int) -> tuple[int, float]:
    """The array axis closest to RAS axis ``world`` and its sign (+1: the index grows towards R, A or S)."""
    ornt = nib.orientations.io_orientation(affine)
    axis = int(np.flatnonzero(ornt[:, 0] == world)[0])
    return axis, float(ornt[axis, 1])


@dataclass(frozen=True)
class Reorientation:
    """Exact flips/permutations between an array's storage order and ``codes``."""

    forward_ornt: np.ndarray
    back_ornt: np.ndarray
    shape: tuple[int, ...]  # of the stored array
    affine: np.ndarray  # of the reoriented array
    spacing: tuple[float, float, float]  # of the reoriented array

    def forward(self, data: np.ndarray) -> np.ndarray:
        """Stored order -> target order (a view where possible)."""
        return nib.orientations.apply_orientation(data, self.forward_ornt)

    def back(self, data: np.ndarray) -> np.ndarray:
        """Target order -> stored order."""
        return nib.orientations.apply_orientation(data, self.back_ornt)


def reorientation(
    affine: np.ndarray, shape: tuple[int, ...], codes: tuple[str, str, str] = CANONICAL
) -> Reorientation:
    """How to turn an array of ``shape`` stored on ``affine`` towards ``codes`` and back."""
    affine = np.asarray(affine, dtype=float)
    current = nib.orientations.io_orientation(affine)
    forward = nib.orientations.ornt_transform(current, nib.orientations.axcodes2ornt(codes))
    back = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt(codes), current)
    new_affine = affine @ nib.orientations.inv_ornt_aff(forward, shape[:3])
    return Reorientation(forward, back, tuple(shape), new_affine, voxel_spacing(new_affine))


def orientation_change(source_affine: np.ndarray, target_affine: np.ndarray) -> np.ndarray:
    """nibabel orientation transform from one array's axis order to another's (for ``as_reoriented``)."""
    return nib.orientations.ornt_transform(
        nib.orientations.io_orientation(source_affine), nib.orientations.io_orientation(target_affine)
    )


def reorient(
    data: np.ndarray, affine: np.ndarray, codes: tuple[str, str, str] = CANONICAL
) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels flipped/permuted so the axes run towards ``codes``, and their affine."""
    change = reorientation(affine, data.shape, codes)
    return np.ascontiguousarray(change.forward(data)), change.affine


def to_canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return reorient(data, affine, CANONICAL)


def world_coordinates(affine: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """RAS mm of voxel indices (..., 3), fractional indices allowed."""
    return nib.affines.apply_affine(np.asarray(affine, dtype=float), np.asarray(indices, dtype=float))


def slice_positions_mm(affine: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """World z (mm) of the centre of each slice along array ``axis``."""
    centre = np.zeros((shape[axis], 3))
    centre[:, axis] = np.arange(shape[axis])
    return world_coordinates(affine, centre)[:, 2]


def body_midline_x(body: np.ndarray, affine: np.ndarray) -> float:
    """World x (mm) of the body's midline: the centre of the left-right extent of the
    non-zero voxels of ``body`` (a mask or a label map), found slab by slab."""
    low, high = np.inf, -np.inf
    for slab in slabs(body, voxels=1 << 20):  # indices as int64 then float: 48 bytes a voxel
        index = np.argwhere(body[slab])
        if index.size:
            index += [s.start or 0 for s in slab]
            x = world_coordinates(affine, index)[:, 0]
            low, high = min(low, x.min()), max(high, x.max())
    if low > high:
        raise ValueError("an empty body mask has no midline")
    return float((low + high) / 2.0)


def patient_side(x_mm: float, midline_x_mm: float) -> Side:
    """Which side of the patient a world x lies on: larger RAS x is the patient's right."""
    return "right" if x_mm > midline_x_mm else "left"


def display_plane(ras: np.ndarray, view: View, index: int) -> np.ndarray:
    """One plane of a canonical (RAS-ordered) array, oriented for radiological display.

    Rows run from the panel's top edge to its bottom edge and columns from its
    left edge to its right edge, as :data:`EDGE_LETTERS` names them.
    """
    if view == "axial":  # rows A -> P, columns R -> L
        plane = ras[:, :, index]
        return plane[::-1, ::-1].T
    if view == "coronal":  # rows H -> F, columns R -> L
        plane = ras[:, index, :]
        return plane[::-1, ::-1].T
    if view == "sagittal":  # rows H -> F, columns A -> P
        plane = ras[index, :, :]
        return plane[::-1, ::-1].T
    raise ValueError(f"unknown view {view!r}")


def display_pixel_mm(spacing_ras: tuple[float, float, float], view: View) -> tuple[float, float]:
    """(row, column) pixel size in mm of :func:`display_plane`'s output."""
    sx, sy, sz = spacing_ras
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[view]
