"""All body-composition numbers of one CT, as the ``bca-measurements.json`` document."""

from __future__ import annotations

from typing import Any

import numpy as np

from body_organ_analysis.bca.aggregation import aggregate
from body_organ_analysis.bca.findings import findings
from body_organ_analysis.bca.levels import vertebral_levels
from body_organ_analysis.bca.region import examined_region, region_coverage_mm
from body_organ_analysis.bca.slices import SliceTables, slice_tables
from body_organ_analysis.bca.tissues import ALL_TISSUES, metal_voxels, tissue_map
from body_organ_analysis.imaging.slabs import slabs
from body_organ_analysis.settings import hu_windows
from body_organ_analysis.context import AnalysisContext
from body_organ_analysis.imaging.body_size import body_size
from body_organ_analysis.labelmap import LabelMap, is_fortran


def measure_body_composition(ctx: AnalysisContext) -> tuple[dict[str, Any], LabelMap, SliceTables]:
    regions = ctx.labelmaps["body_regions"]
    parts = ctx.labelmaps["body_parts"]
    total = ctx.labelmaps.get("total")
    windows = hu_windows(ctx.settings.bca_hu_windows)
    hu = np.asarray(ctx.ct.data)
    tissues = tissue_map_by_slabs(hu, regions, windows, ctx.ct.affine)
    tables = slice_tables(hu, ctx.ct.affine, tissues, regions, parts, total)
    slice_mm = float(ctx.ct.spacing[tables.axis])
    coverage = region_coverage_mm(tables, total, slice_mm)
    region = examined_region(coverage, ctx.settings.bca_examined_body_region)
    origins = {regions.origin, parts.origin}
    approximate = "threshold" in origins
    if approximate:
        tissues.origin = "threshold"  # derived from approximate maps: say so in tissues.labels.json
    document = {
        "engine": "threshold" if approximate else "nnunet",
        "approximate": approximate,
        "body_maps_origin": {"body_regions": regions.origin, "body_parts": parts.origin},
        "used_total": total is not None,
        "hu_windows": tissue_windows(windows),
        "hu_window_settings": {name: list(window) for name, window in windows.items()},
        "examined_region": region,
        "examined_region_forced": ctx.settings.bca_examined_body_region is not None,
        "region_coverage_mm": coverage,
        "tissues": list(ALL_TISSUES),
        "voxel_volume_ml": tables.voxel_ml,
        "pixel_area_cm2": tables.pixel_cm2,
        "sd_convention": "population (ddof=0)",
        "metal": metal_summary(metal_voxels(hu, regions, windows), tables.voxel_ml, windows["bone"][1]),
        "aggregated": aggregate(tables, total, torso_only=False),
        "aggregated_no_extremities": aggregate(tables, total, torso_only=True),
        "vertebral_levels": vertebral_levels(tables, total, ctx.ct.patient),
        "body_size": body_size(ctx.ct.patient),
        "findings": findings(tables, regions),
    }
    return document, tissues, tables


def tissue_map_by_slabs(
    hu: np.ndarray, regions: LabelMap, windows: dict[str, tuple[float, float]], affine: np.ndarray
) -> LabelMap:
    """:func:`tissue_map` (voxel by voxel) slab by slab along the axis slowest in memory:
    the same map, with the temporaries of one slab instead of the whole volume."""
    fortran = is_fortran(hu)
    data = np.empty(hu.shape, dtype=np.uint8, order="F" if fortran else "C")
    part = None
    for slab in slabs(hu):
        slab_regions = LabelMap(regions.data[slab], regions.affine, regions.labels, regions.model, regions.origin)
        part = tissue_map(hu[slab], slab_regions, windows, affine)
        data[slab] = part.data
    if part is None:
        return tissue_map(hu, regions, windows, affine)
    return LabelMap(data, part.affine, part.labels, part.model, part.origin, part.details)


def tissue_windows(windows: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """The HU window of every tissue that has one (bone is every voxel of its region)."""
    from body_organ_analysis.bca.tissues import TISSUE_RULES

    return {tissue: list(windows[w]) for tissue, (_, w) in TISSUE_RULES.items() if w}


def metal_summary(voxels: int, voxel_ml: float, above_hu: float) -> dict[str, Any]:
    """Metal in the body (above the bone window): counted apart, never part of bone."""
    from body_organ_analysis.report.rounding import round_volume_ml

    return {"voxel_count": voxels, "volume_ml": round_volume_ml(voxels * voxel_ml), "above_hu": above_hu}
