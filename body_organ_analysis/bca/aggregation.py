"""Aggregation of the per-slice measurements over regions of the scan.

A region is the set of axial slices it spans: the whole scan (slices with
body), the slices holding abdominal cavity, thoracic cavity, ventral cavity
(any of abdominal, thoracic cavity, mediastinum, pericardium), mediastinum,
pericardium, and each vertebra of `total` (C1 to S1). Over those slices, per
tissue: volume (sum, mL), mean HU (over all its voxels), and the mean,
standard deviation, minimum, quartiles and maximum of the mL per slice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from body_organ_analysis.bca.slices import SliceTables
from body_organ_analysis.bca.tissues import ALL_TISSUES
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import BODY_REGIONS_LABELS

R = {name: label for label, name in BODY_REGIONS_LABELS.items()}
CAVITY_REGIONS = {
    "abdominal_cavity": ("abdominal_cavity",),
    "thoracic_cavity": ("thoracic_cavity",),
    "ventral_cavity": ("abdominal_cavity", "thoracic_cavity", "mediastinum", "pericardium"),
    "mediastinum": ("mediastinum",),
    "pericardium": ("pericardium",),
}
VERTEBRA_ORDER = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)] + ["S1"]


def region_slices(tables: SliceTables, total: LabelMap | None) -> dict[str, np.ndarray]:
    """Region name -> boolean per slice."""
    rc = tables.region_present
    out = {"whole_scan": rc[:, 1:].any(axis=1)}
    for name, labels in CAVITY_REGIONS.items():
        out[name] = rc[:, [R[label] for label in labels]].any(axis=1)
    if total is not None and tables.total_present is not None:
        ids = total.ids_by_name
        for level in VERTEBRA_ORDER:
            name = f"vertebrae_{level}"
            if name in ids and ids[name] < tables.total_present.shape[1]:
                present = tables.total_present[:, ids[name]]
                if present.any():
                    out[name] = present
    return out


def tissue_statistics(tables: SliceTables, tissue: str, slices: np.ndarray, torso_only: bool) -> dict[str, Any]:
    counts, sums = tables.tissue_counts(tissue, torso_only)
    ml = counts[slices] * tables.voxel_ml
    voxels = int(counts[slices].sum())
    if ml.size == 0:
        return {key: None for key in ("volume_ml", "mean_hu", "mean_ml_per_slice", "std", "min", "p25", "median", "p75", "max")} | {"slice_count": 0}
    p25, median, p75 = np.percentile(ml, [25, 50, 75])
    return {
        "volume_ml": round(float(ml.sum()), 4),
        "mean_hu": round(float(sums[slices].sum() / voxels), 3) if voxels else None,
        "mean_ml_per_slice": round(float(ml.mean()), 4),
        "std": round(float(ml.std()), 4),
        "min": round(float(ml.min()), 4),
        "p25": round(float(p25), 4),
        "median": round(float(median), 4),
        "p75": round(float(p75), 4),
        "max": round(float(ml.max()), 4),
        "slice_count": int(slices.sum()),
    }


def aggregate(tables: SliceTables, total: LabelMap | None, torso_only: bool) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for region, slices in region_slices(tables, total).items():
        if not slices.any():
            continue
        out[region] = {tissue: tissue_statistics(tables, tissue, slices, torso_only) for tissue in ALL_TISSUES}
    return out


AGGREGATED_COLUMNS = [
    "region", "extremities", "tissue", "slice_count", "volume_ml", "mean_hu", "mean_ml_per_slice",
    "std_ml_per_slice", "min_ml_per_slice", "p25_ml_per_slice", "median_ml_per_slice",
    "p75_ml_per_slice", "max_ml_per_slice",
]  # fmt: skip


def aggregated_rows(with_ext: dict, without_ext: dict) -> list[list]:
    rows = []
    for label, table in (("included", with_ext), ("excluded", without_ext)):
        for region, tissues in table.items():
            for tissue, s in tissues.items():
                rows.append([region, label, tissue, s["slice_count"], s["volume_ml"], s["mean_hu"],
                             s["mean_ml_per_slice"], s["std"], s["min"], s["p25"], s["median"],
                             s["p75"], s["max"]])  # fmt: skip
    return rows
