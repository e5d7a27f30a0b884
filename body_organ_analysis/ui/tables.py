"""The numbers of one output folder as pandas tables, every column name with its unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from body_organ_analysis.report.provenance import PROVENANCE_KEY
from body_organ_analysis.ui.runs import read_json

ORGAN_COLUMNS = {
    "volume_ml": "volume (mL)", "voxel_count": "voxels", "hu_mean": "HU mean", "hu_std": "HU SD",
    "hu_min": "HU min", "hu_median": "HU median", "hu_max": "HU max", "cnr": "CNR", "truncated": "truncated",
}  # fmt: skip
TISSUE_COLUMNS = {"volume_ml": "volume (mL)", "hu_mean": "HU mean", "ml_per_slice_mean": "mean per slice (mL)",
                  "slice_count": "slices"}  # fmt: skip
LEVEL_COLUMNS = {
    "slice_index": "slice", "position_mm": "position (mm)", "muscle_area_cm2": "muscle (cm²)",
    "muscle_hu_mean": "muscle HU mean", "sat_area_cm2": "SAT (cm²)", "vat_area_cm2": "VAT (cm²)",
    "imat_area_cm2": "IMAT (cm²)", "smi_cm2_per_m2": "SMI (cm²/m²)", "truncated": "truncated",
}  # fmt: skip


def organ_table(output: Path, model: str = "total") -> pd.DataFrame | None:
    """Present structures of ``model`` from ``structure-measurements.json``."""
    document = read_json(output / "structure-measurements.json")
    if not document or model not in document:
        return None
    rows = [{"structure": name, **{label: values.get(key) for key, label in ORGAN_COLUMNS.items()}}
            for name, values in document[model].items() if values.get("present")]  # fmt: skip
    return pd.DataFrame(rows).set_index("structure") if rows else None


def bca_document(output: Path) -> dict[str, Any] | None:
    return read_json(output / "bca-measurements.json")


def bca_table(document: dict[str, Any], region: str = "whole_scan") -> pd.DataFrame | None:
    tissues = document.get("aggregated", {}).get(region)
    if not tissues:
        return None
    rows = [{"tissue": tissue, **{label: values.get(key) for key, label in TISSUE_COLUMNS.items()}}
            for tissue, values in tissues.items()]  # fmt: skip
    return pd.DataFrame(rows).set_index("tissue")


def levels_table(document: dict[str, Any]) -> pd.DataFrame | None:
    levels = document.get("vertebral_levels") or {}
    if not levels:
        return None
    rows = [{"level": name, **{label: values.get(key) for key, label in LEVEL_COLUMNS.items()}}
            for name, values in levels.items()]  # fmt: skip
    return pd.DataFrame(rows).set_index("level")


def highlight_l3(table: pd.DataFrame) -> Any:
    return table.style.apply(
        lambda row: ["background-color: #fff3b0; font-weight: bold" if row.name == "L3" else "" for _ in row], axis=1
    ).format(precision=1, na_rep="–")


def provenance_banners(output: Path) -> list[str]:
    """The banner every PDF page and the workbook carry: the ``provenance`` block of the run's JSON."""
    document = read_json(output / "structure-measurements.json") or {}
    text = (document.get(PROVENANCE_KEY) or {}).get("text")
    return [text] if text else []


def contrast_summary(output: Path) -> str | None:
    document = read_json(output / "contrast.json")
    if not document:
        return None
    if document.get("phase"):
        return f"contrast phase: {document['phase']} (p = {document.get('probability')})"
    return f"contrast phase not predicted: {document.get('reason')}"
