"""Aggregation of the per-slice measurements over regions of the scan.

A region is the set of axial slices it spans: the whole scan (slices with
body), the slices holding abdominal cavity, thoracic cavity, ventral cavity
(any of abdominal, thoracic cavity, mediastinum, pericardium), mediastinum,
pericardium, and each vertebra of `total` (C1 to S1). Over those slices, per
tissue: ``volume_ml`` (sum, mL), ``hu_mean`` (HU, over all its voxels), and
statistics of the tissue's volume per slice, all in mL and named
``ml_per_slice_*``: mean, standard deviation (population, ddof=0, as every SD
of this tool), minimum, quartiles and maximum. Rounding: report/rounding.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from body_organ_analysis.bca.slices import SliceTables
from body_organ_analysis.bca.tissues import ALL_TISSUES
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import BODY_REGIONS_LABELS
from body_organ_analysis.report.rounding import round_hu, round_volume_ml

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


PER_SLICE_STATISTICS = ("mean", "std", "min", "p25", "median", "p75", "max")
STATISTIC_KEYS = ("slice_count", "volume_ml", "hu_mean", *(f"ml_per_slice_{s}" for s in PER_SLICE_STATISTICS))


def tissue_statistics(tables: SliceTables, tissue: str, slices: np.ndarray, torso_only: bool) -> dict[str, Any]:
    counts, sums = tables.tissue_counts(tissue, torso_only)
    ml = counts[slices] * tables.voxel_ml
    voxels = int(counts[slices].sum())
    if ml.size == 0:
        return {key: None for key in STATISTIC_KEYS} | {"slice_count": 0}
    p25, median, p75 = np.percentile(ml, [25, 50, 75])
    per_slice = {"mean": ml.mean(), "std": ml.std(), "min": ml.min(), "p25": p25, "median": median,
                 "p75": p75, "max": ml.max()}  # fmt: skip
    return {
        "slice_count": int(slices.sum()),
        "volume_ml": round_volume_ml(ml.sum()),
        "hu_mean": round_hu(sums[slices].sum() / voxels) if voxels else None,
        **{f"ml_per_slice_{name}": round_volume_ml(value) for name, value in per_slice.items()},
    }


def aggregate(tables: SliceTables, total: LabelMap | None, torso_only: bool) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for region, slices in region_slices(tables, total).items():
        if not slices.any():
            continue
        out[region] = {tissue: tissue_statistics(tables, tissue, slices, torso_only) for tissue in ALL_TISSUES}
    return out


AGGREGATED_COLUMNS = ["region", "extremities", "tissue", *STATISTIC_KEYS]


def aggregated_rows(with_ext: dict, without_ext: dict) -> list[list]:
    rows = []
    for label, table in (("included", with_ext), ("excluded", without_ext)):
        for region, tissues in table.items():
            for tissue, s in tissues.items():
                rows.append([region, label, tissue, *(s[key] for key in STATISTIC_KEYS)])
    return rows
