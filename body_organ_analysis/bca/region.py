"""The examined body region: abdomen, thorax or neck.

Rules (on the body_regions map, per axial slice, lengths in mm along the
head-feet axis):
- abdomen: length covered by abdominal cavity;
- thorax: length covered by thoracic cavity or mediastinum;
- neck: length of body slices above the highest thoracic slice that hold no
  cavity (below the head when body_parts marks one); with `total`, the length
  covered by cervical vertebrae C1-C7 when it is longer.
The region with the longest coverage is the examined region (ties: abdomen,
thorax, neck). ``--bca-examined-body-region`` forces one; forcing a region the
scan does not contain is an error that says which regions it does contain.
"""

from __future__ import annotations

import numpy as np

from body_organ_analysis.bca.slices import SliceTables
from body_organ_analysis.errors import UsageError
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import BODY_REGIONS_LABELS

REGIONS = ("abdomen", "thorax", "neck")
R = {name: label for label, name in BODY_REGIONS_LABELS.items()}


def region_coverage_mm(tables: SliceTables, total: LabelMap | None, slice_mm: float) -> dict[str, float]:
    rc = tables.region_present
    abdomen = rc[:, R["abdominal_cavity"]]
    thorax = rc[:, R["thoracic_cavity"]] | rc[:, R["mediastinum"]]
    body = rc[:, 1:].any(axis=1)
    up = np.sign(tables.position_mm[-1] - tables.position_mm[0]) if tables.slice_count > 1 else 1.0
    neck = np.zeros_like(body)
    if thorax.any():
        order = np.arange(tables.slice_count)
        top = order[thorax].max() if up >= 0 else order[thorax].min()
        above = order > top if up >= 0 else order < top
        neck = above & body & ~abdomen & ~thorax & ~rc[:, R["brain"]]
    neck_mm = float(neck.sum()) * slice_mm
    if total is not None and tables.total_present is not None:
        ids = [i for i, n in total.labels.items() if n.startswith("vertebrae_C")]
        if ids:
            cervical = tables.total_present[:, ids].any(axis=1)
            neck_mm = max(neck_mm, float(cervical.sum()) * slice_mm)
    return {
        "abdomen": float(abdomen.sum()) * slice_mm,
        "thorax": float(thorax.sum()) * slice_mm,
        "neck": neck_mm,
    }


def examined_region(coverage_mm: dict[str, float], forced: str | None) -> str:
    present = [name for name in REGIONS if coverage_mm.get(name, 0.0) > 0]
    if forced is not None:
        if forced not in present:
            contained = ", ".join(present) if present else "none of abdomen, thorax, neck"
            raise UsageError(
                f"--bca-examined-body-region {forced}: this scan does not contain the {forced} "
                f"(it contains: {contained}). Drop the option to detect the region, or choose one "
                "the scan contains."
            )
        return forced
    if not present:
        return "unknown"
    return max(REGIONS, key=lambda name: (coverage_mm.get(name, 0.0), -REGIONS.index(name)))
