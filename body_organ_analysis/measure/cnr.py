"""Image quality: noise and contrast-to-noise ratio (CNR) against the back muscles.

Reference region: the autochthonous back muscles of ``total`` (left and right
together), without fat voxels (-200 to -40 HU), eroded by one voxel (6-connected
structuring element) to drop partial-volume voxels at their border.
``noise`` is the HU standard deviation (ddof=0) of that region; for any
structure, ``CNR = (structure mean - reference mean) / noise``.

``--cnr-adjustment`` adds the same eroded-ROI measurement for a few structures
(aorta, each autochthon muscle and both, pulmonary artery from
``heartchambers_highres``): their mean and SD are taken from the eroded ROI
(fat removed for muscles) rather than the whole mask, so the CNR is less
diluted by partial volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.measure.label_index import LabelIndex

REFERENCE_MODEL = "total"
REFERENCE_STRUCTURES = ("autochthon_left", "autochthon_right")
FAT_HU = (-200.0, -40.0)


@dataclass
class Reference:
    """Mean and noise of the reference region, or why there is none."""

    mean_hu: float | None
    noise_hu: float | None
    voxel_count: int
    reason: str | None = None

    def cnr(self, mean_hu: float | None) -> float | None:
        if mean_hu is None or self.mean_hu is None or not self.noise_hu:
            return None
        return (mean_hu - self.mean_hu) / self.noise_hu

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": "+".join(REFERENCE_STRUCTURES),
            "reference_mean_hu": self.mean_hu,
            "noise_hu": self.noise_hu,
            "reference_voxel_count": self.voxel_count,
            "reason": self.reason,
        }


def eroded_roi(ct: np.ndarray, mask: np.ndarray, remove_fat: bool) -> tuple[np.ndarray, tuple[slice, ...]]:
    """The ROI's voxels inside its bounding box (fat removed if asked, then eroded once).

    Returns the boolean ROI of the box and the box, so callers index ``ct[box][roi]``.
    """
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
    return eroded_roi_in_box(ct[box], mask[box], remove_fat), box


def eroded_roi_in_box(values: np.ndarray, local: np.ndarray, remove_fat: bool) -> np.ndarray:
    """:func:`eroded_roi` given the HU and mask of the ROI's box grown by one voxel."""
    if remove_fat:
        local = local & ~((values >= FAT_HU[0]) & (values <= FAT_HU[1]))
    return ndimage.binary_erosion(local)


def _eroded_values(ct: np.ndarray, index: LabelIndex, ids: list[int], remove_fat: bool) -> np.ndarray | None:
    """HU (float64) of the eroded ROI of labels ``ids``, found in their box; None when absent."""
    box = index.box(ids, pad=1)
    if box is None:
        return None
    values = ct[box]
    return values[eroded_roi_in_box(values, index.mask(ids, box), remove_fat)].astype(np.float64)


def reference_region(
    ct: np.ndarray, labelmaps: dict[str, LabelMap], indexes: dict[str, LabelIndex] | None = None
) -> Reference:
    """Mean and noise of the eroded, fat-free autochthon muscles of ``total``.

    ``indexes``: {model: :class:`LabelIndex`} shared with other measurements, if any.
    """
    total = labelmaps.get(REFERENCE_MODEL)
    if total is None:
        return Reference(None, None, 0, "the 'total' model did not run: no back muscles to measure noise in")
    ids = [total.ids_by_name.get(name) for name in REFERENCE_STRUCTURES]
    index = _index_of(REFERENCE_MODEL, total, indexes)
    values = _eroded_values(ct, index, [i for i in ids if i is not None], remove_fat=True)
    if values is None:
        return Reference(None, None, 0, "the autochthonous back muscles are not in the 'total' map")
    if values.size < 2:
        reason = "the back muscles are too thin to measure noise after erosion"
        return Reference(None, None, int(values.size), reason)
    noise = float(values.std())
    if noise == 0:
        reason = "the back muscles have no HU variation (noise 0)"
        return Reference(float(values.mean()), 0.0, int(values.size), reason)
    return Reference(float(values.mean()), noise, int(values.size))


def add_cnr(structures: dict[str, dict[str, dict[str, Any]]], reference: Reference) -> None:
    """Fill in ``cnr`` of every present structure of every model."""
    for entries in structures.values():
        for entry in entries.values():
            entry["cnr"] = reference.cnr(entry["hu_mean"]) if entry["present"] else None


ADJUSTED_TARGETS = (
    # (row name, model, structures, remove fat)
    ("aorta", "total", ("aorta",), False),
    ("autochthon_left", "total", ("autochthon_left",), True),
    ("autochthon_right", "total", ("autochthon_right",), True),
    ("autochthon_both", "total", ("autochthon_left", "autochthon_right"), True),
    ("pulmonary_artery", "heartchambers_highres", ("pulmonary_artery",), False),
)


def _index_of(model: str, label_map: LabelMap, indexes: dict[str, LabelIndex] | None) -> LabelIndex:
    if indexes is not None and model in indexes:
        return indexes[model]
    return LabelIndex(label_map.data)


def adjusted_cnr(
    ct: np.ndarray,
    labelmaps: dict[str, LabelMap],
    reference: Reference,
    indexes: dict[str, LabelIndex] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The ``cnr-adjusted`` block: eroded-ROI statistics and CNR; plus warnings."""
    rows: dict[str, Any] = {}
    warnings: list[str] = []
    for row, model, names, remove_fat in ADJUSTED_TARGETS:
        entry: dict[str, Any] = {"model": model, "voxel_count": 0, "hu_mean": None, "hu_std": None,
                                 "cnr": None, "reason": None}
        label_map = labelmaps.get(model)
        if label_map is None:
            entry["reason"] = f"model {model!r} did not run"
            if model != REFERENCE_MODEL:
                warnings.append(
                    f"cnr-adjusted: {row} needs the {model!r} model, which did not run; add it with -m."
                )
            rows[row] = entry
            continue
        ids = [label_map.ids_by_name[n] for n in names if n in label_map.ids_by_name]
        values = _eroded_values(ct, _index_of(model, label_map, indexes), ids, remove_fat)
        if values is None:
            entry["reason"] = "structure not present"
            rows[row] = entry
            continue
        if values.size == 0:
            entry["reason"] = "nothing left after erosion"
        else:
            entry.update(
                voxel_count=int(values.size), hu_mean=float(values.mean()), hu_std=float(values.std())
            )
            entry["cnr"] = reference.cnr(entry["hu_mean"])
            if entry["cnr"] is None:
                entry["reason"] = reference.reason
        rows[row] = entry
    return rows, warnings
