"""Opportunistic bone density: mean HU of the trabecular bone of each vertebral body.

ROI of one vertebra (a ``vertebrae_*`` label of ``total``), built from its mask:
1. erode the mask by a ball of ``CORTEX_MARGIN_MM`` (at least one voxel per
   axis): this strips the cortical shell and partial-volume voxels;
2. keep the anterior ``BODY_FRACTION`` of the vertebra's antero-posterior
   extent (the posterior elements and pedicles lie behind it), then the
   largest connected piece of what remains (the body);
3. keep the middle half of its cranio-caudal extent (away from the endplates).
The bone density is the mean HU (and population SD) of the voxels left, with a
quality flag ("check" and the reasons) when the ROI is heterogeneous (SD above
``MAX_SD_HU``), small, shares its slices with a neighbouring vertebra, or the
vertebra is cut by the scan edge. Directions come
from the affine (RAS), so any voxel order works. L1 is the level used in the
literature (e.g. Pickhardt et al., Ann Intern Med 2013) and goes to the info
sheet.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from body_organ_analysis.imaging.orientation import axis_towards, voxel_spacing
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.measure.label_index import LabelIndex
from body_organ_analysis.report.rounding import round_hu, round_volume_ml

CORTEX_MARGIN_MM = 3.0
BODY_FRACTION = 0.3
CRANIOCAUDAL_KEEP = (0.25, 0.75)
REFERENCE_LEVEL = "vertebrae_L1"
MAX_SD_HU = 60.0  # trabecular bone of a sound ROI varies far less
MIN_ROI_ML = 0.5
HEAD_TO_FEET = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 7)]
HEAD_TO_FEET += ["S1"]


def _ball(spacing: tuple[float, float, float], radius_mm: float) -> np.ndarray:
    """Ellipsoidal structuring element of ``radius_mm`` (at least one voxel per axis)."""
    radii = [max(1, int(round(radius_mm / s))) for s in spacing]
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radii)]
    return sum((g / r) ** 2 for g, r in zip(grids, radii)) <= 1.0


def roi_padding(affine: np.ndarray) -> list[int]:
    """Voxels to add around a vertebra's box so that the erosion sees its whole border."""
    return [max(1, int(round(CORTEX_MARGIN_MM / s))) + 1 for s in voxel_spacing(affine)]


def trabecular_roi(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Boolean ROI (same shape as ``mask``) inside the vertebral body; may be empty."""
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    box = tuple(slice(max(b.start - p, 0), b.stop + p) for b, p in zip(box, roi_padding(affine)))
    roi = np.zeros(mask.shape, dtype=bool)
    roi[box] = trabecular_roi_in_box(mask[box], affine)
    return roi


def trabecular_roi_in_box(local: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The ROI of one vertebra given its mask inside its box grown by :func:`roi_padding`."""
    spacing = voxel_spacing(affine)
    eroded = ndimage.binary_erosion(local, structure=_ball(spacing, CORTEX_MARGIN_MM))
    if not eroded.any():
        return eroded
    ap_axis, ap_sign = axis_towards(affine, 1)  # anterior = +y in RAS
    ap_mm = ap_sign * spacing[ap_axis] * np.arange(local.shape[ap_axis], dtype=np.float64)
    ap_of_mask = ap_mm[np.any(local, axis=tuple(a for a in range(3) if a != ap_axis))]
    front, back = ap_of_mask.max(), ap_of_mask.min()
    in_band = ap_mm >= front - BODY_FRACTION * (front - back)
    shape = [1, 1, 1]
    shape[ap_axis] = -1
    body = eroded & in_band.reshape(shape)
    pieces, count = ndimage.label(body)
    if count == 0:
        return body
    sizes = np.bincount(pieces.reshape(-1))[1:]
    body = pieces == (int(np.argmax(sizes)) + 1)
    si_axis, _ = axis_towards(affine, 2)
    levels = np.flatnonzero(np.any(body, axis=tuple(a for a in range(3) if a != si_axis)))
    first, last = levels.min(), levels.max()
    low = first + CRANIOCAUDAL_KEEP[0] * (last - first)
    high = first + CRANIOCAUDAL_KEEP[1] * (last - first)
    index = np.arange(body.shape[si_axis])
    keep_levels = (index >= np.floor(low)) & (index <= np.ceil(high))
    shape = [1, 1, 1]
    shape[si_axis] = -1
    return body & keep_levels.reshape(shape)


def _vertebra_order(name: str) -> int:
    level = name.removeprefix("vertebrae_")
    return HEAD_TO_FEET.index(level) if level in HEAD_TO_FEET else len(HEAD_TO_FEET)


def _quality(total: LabelMap, index: LabelIndex, roi: np.ndarray, box: tuple[slice, ...], label: int,
             vertebra_ids: set[int], entry: dict[str, Any]) -> list[str]:  # fmt: skip
    """Reasons to distrust a vertebra's value (empty: none found). ``roi`` is box-local."""
    reasons = []
    if entry["hu_std"] is not None and entry["hu_std"] > MAX_SD_HU:
        reasons.append(f"heterogeneous ROI: SD {entry['hu_std']:.0f} HU > {MAX_SD_HU:.0f} HU "
                       "(cortex, endplate, metal or a fracture inside it)")  # fmt: skip
    if entry["roi_volume_ml"] < MIN_ROI_ML:
        reasons.append(f"small ROI ({entry['roi_volume_ml']:.2g} mL < {MIN_ROI_ML:g} mL)")
    si_axis, _ = axis_towards(total.affine, 2)
    planes = box[si_axis].start + np.flatnonzero(np.moveaxis(roi, si_axis, 0).any(axis=(1, 2)))
    neighbours = set()
    for other in sorted(vertebra_ids - {label}):  # a neighbour with a voxel in the ROI's planes
        other_box = index.box(other)
        if other_box is None:
            continue
        side = other_box[si_axis]
        shared = planes[(planes >= side.start) & (planes < side.stop)] - side.start
        if shared.size and np.any(np.take(total.data[other_box], shared, axis=si_axis) == other):
            neighbours.add(other)
    if neighbours:
        names = ", ".join(sorted(total.labels[i].removeprefix("vertebrae_") for i in neighbours))
        reasons.append(f"the ROI's slices also hold {names}: the vertebrae overlap along the "
                       "head-feet axis (tilted spine or segmentation error)")  # fmt: skip
    extent = index.box(label)[si_axis]  # the vertebra's own planes
    if extent.start == 0 or extent.stop == total.data.shape[si_axis]:
        reasons.append("the vertebra is cut by the edge of the scan")
    return reasons


def bone_density(ct: np.ndarray, total: LabelMap | None, index: LabelIndex | None = None) -> dict[str, Any]:
    """The ``bone-density.json`` document.

    ``vertebrae``: {vertebra: {hu_mean, hu_std, roi_voxel_count, roi_volume_ml, quality,
    quality_reasons, reason}} head to feet, for the vertebrae present; ``reason`` (top
    level) says why there is none. ``quality`` is "ok", "check" (a value with reasons to
    distrust it) or "not measured". ``index``: the :class:`LabelIndex` of ``total`` when
    the caller shares one; each vertebra is then measured inside its own box only.
    """
    document: dict[str, Any] = {"reference_level": REFERENCE_LEVEL, "sd_convention": "population (ddof=0)",
                                "vertebrae": {}, "reason": None}  # fmt: skip
    if total is None:
        document["reason"] = "the 'total' model did not run: no vertebrae to measure"
        return document
    index = index if index is not None else LabelIndex(total.data)
    voxel_ml = float(np.prod(voxel_spacing(total.affine))) / 1000.0
    padding = roi_padding(total.affine)
    names = [n for _, n in sorted(total.labels.items()) if n.startswith("vertebrae_")]
    vertebra_ids = {total.ids_by_name[n] for n in names}
    for name in sorted(names, key=_vertebra_order):
        label = total.ids_by_name[name]
        box = index.box(label, padding)
        if box is None:
            continue
        roi = trabecular_roi_in_box(index.mask(label, box), total.affine)
        values = ct[box][roi].astype(np.float64)
        entry: dict[str, Any] = {"hu_mean": None, "hu_std": None, "roi_voxel_count": int(values.size),
                                 "roi_volume_ml": round_volume_ml(values.size * voxel_ml), "quality": "not measured",
                                 "quality_reasons": [], "reason": None}  # fmt: skip
        if values.size == 0:
            entry["reason"] = "the vertebra is too small for a trabecular ROI after removing the cortex"
        else:
            entry.update(hu_mean=round_hu(values.mean()), hu_std=round_hu(values.std()))
            entry["quality_reasons"] = _quality(total, index, roi, box, label, vertebra_ids, entry)
            entry["quality"] = "check" if entry["quality_reasons"] else "ok"
        document["vertebrae"][name] = entry
    if not document["vertebrae"]:
        document["reason"] = "no vertebra in the 'total' map"
    return document
