"""The weights-free body-composition engine (``--bca-engine threshold``).

Builds ``body_regions`` and ``body_parts`` label maps from HU rules,
morphology and connected components, using the ``total`` label map as
anatomical hints when it is available. Its maps are approximate and marked as
such (origin ``threshold``). The work happens on an in-plane downsampled grid
(about 3 mm pixels) in RAS orientation and is mapped back to the CT grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from body_organ_analysis.imaging.orientation import Reorientation, reorientation
from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.labelmap import LabelMap, is_fortran
from body_organ_analysis.models.registry import BODY_PARTS_LABELS, BODY_REGIONS_LABELS, ModelSpec

TARGET_PIXEL_MM = 3.0
P_TORSO = 1
ORIGIN = "threshold"


@dataclass
class RasView:
    """The CT (and `total`) in RAS axis order, and how to map results back."""

    hu: np.ndarray
    total: np.ndarray | None
    spacing: tuple[float, float, float]
    change: Reorientation  # CT grid <-> RAS

    def to_ct_grid(self, data: np.ndarray) -> np.ndarray:
        return self.change.back(data)  # a view: keeps the memory order


def ras_view(ct: CTVolume, total: LabelMap | None) -> RasView:
    change = reorientation(ct.affine, ct.shape)
    total_data = None if total is None else change.forward(total.data)
    return RasView(change.forward(ct.data), total_data, change.spacing, change)


def predict_threshold_model(spec: ModelSpec, ct: CTVolume, labelmaps: dict[str, LabelMap]) -> LabelMap:
    """The threshold engine's map for ``body_regions`` or ``body_parts``.

    Both come from one computation: the body_parts map made with body_regions
    rides along in its ``details`` until body_parts is asked for.
    """
    made = labelmaps.get("body_regions")
    if spec.name == "body_parts" and made is not None and "_body_parts" in made.details:
        return made.details.pop("_body_parts")
    regions, parts = threshold_maps(ct, labelmaps.get("total"))
    regions.details["_body_parts"] = parts
    if spec.name == "body_regions":
        return regions
    if spec.name == "body_parts":
        return parts
    raise ValueError(f"the threshold engine makes body_regions and body_parts, not {spec.name}")


def threshold_maps(ct: CTVolume, total: LabelMap | None) -> tuple[LabelMap, LabelMap]:
    """Both label maps at once (they share the body outline)."""
    from body_organ_analysis.bca.morphology import upsample_labels
    from body_organ_analysis.bca.threshold_regions import body_regions

    view = ras_view(ct, total)
    factor = max(1, int(round(TARGET_PIXEL_MM / max(min(view.spacing[:2]), 1e-3))))
    regions_ras, parts_coarse = body_regions(view.hu, view.spacing, view.total, total, factor)
    parts_ras = upsample_labels(parts_coarse, factor, view.hu.shape, fortran=is_fortran(view.hu))
    outside = regions_ras == 0
    parts_ras[outside] = 0
    parts_ras[~outside & (parts_ras == 0)] = P_TORSO  # body the coarse grid missed: torso
    details = {"engine": ORIGIN, "approximate": True, "used_total": total is not None,
               "downsample_factor": factor}  # fmt: skip
    regions = LabelMap(view.to_ct_grid(regions_ras), ct.affine.copy(), BODY_REGIONS_LABELS,
                       "body_regions", ORIGIN, dict(details))  # fmt: skip
    parts = LabelMap(view.to_ct_grid(parts_ras), ct.affine.copy(), BODY_PARTS_LABELS,
                     "body_parts", ORIGIN, dict(details))  # fmt: skip
    return regions, parts
