"""Other findings: cavity volumes and breast implants."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from body_organ_analysis.bca.slices import SliceTables
from body_organ_analysis.imaging.orientation import body_midline_x, patient_side, world_coordinates
from body_organ_analysis.labelmap import LabelMap, label_boxes
from body_organ_analysis.models.registry import BODY_REGIONS_LABELS

R = {name: label for label, name in BODY_REGIONS_LABELS.items()}
CAVITIES = ("abdominal_cavity", "thoracic_cavity", "mediastinum", "pericardium")
MIN_IMPLANT_ML = 5.0


def cavity_volumes_ml(tables: SliceTables) -> dict[str, float]:
    totals = tables.region_voxels
    volumes = {name: round(float(totals[R[name]] * tables.voxel_ml), 3) for name in CAVITIES}
    volumes["ventral_cavity"] = round(sum(volumes[name] for name in CAVITIES), 3)
    return volumes


def breast_implants(regions: LabelMap, voxel_ml: float) -> list[dict[str, Any]]:
    """Connected pieces of the breast-implant region of 5 mL or more, with side and volume.

    The side is the patient's: the piece's centre against the body's own midline.
    """
    label = R["breast_implant"]
    box = label_boxes(regions.data, max_label=label)[label - 1]
    if box is None:
        return []
    mask = regions.data[box] == label  # pieces never reach outside the region's box
    pieces, count = ndimage.label(mask)
    sizes = np.bincount(pieces.ravel())
    centres = ndimage.center_of_mass(mask, pieces, range(1, count + 1))
    corner = np.array([s.start for s in box], dtype=float)
    midline = body_midline_x(regions.data, regions.affine)
    implants = []
    for index, centre in enumerate(centres, start=1):
        volume = sizes[index] * voxel_ml
        if volume < MIN_IMPLANT_ML:
            continue
        x_mm = float(world_coordinates(regions.affine, corner + centre)[0])
        implants.append({"side": patient_side(x_mm, midline), "volume_ml": round(float(volume), 2)})
    return sorted(implants, key=lambda item: item["side"])


def findings(tables: SliceTables, regions: LabelMap) -> dict[str, Any]:
    has_implant = tables.region_voxels[R["breast_implant"]] > 0  # counted already: no scan without one
    implants = breast_implants(regions, tables.voxel_ml) if has_implant else []
    return {
        "cavity_volumes_ml": cavity_volumes_ml(tables),
        "breast_implants": implants,
        "breast_implant_count": len(implants),
    }
