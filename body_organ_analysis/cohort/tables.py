"""The cohort tables, rebuilt from the case folders: long (tidy) rows of every measurement.

Columns: case, group (organ / tissue / level / contrast / quality / patient), item,
measure, value (number), text (for categorical values such as the contrast
phase), unit, engine (where the number came from), approximate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

LONG_COLUMNS = ["case", "group", "item", "measure", "value", "text", "unit", "engine", "approximate"]
ORGAN_MEASURES = {"volume_ml": "mL", "hu_mean": "HU", "hu_median": "HU", "hu_std": "HU", "cnr": "1", "truncated": "flag"}
LEVEL_MEASURES = {
    "muscle_area_cm2": "cm2", "muscle_hu_mean": "HU", "sat_area_cm2": "cm2", "vat_area_cm2": "cm2",
    "imat_area_cm2": "cm2", "smi_cm2_per_m2": "cm2/m2", "truncated": "flag",
}
APPROXIMATE_ORIGINS = {"stand-in", "threshold"}


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


NOT_ORGANS = ("provenance", "body_regions", "body_parts")


def case_rows(case_id: str, folder: Path, height_cm: float | None = None, weight_kg: float | None = None) -> list[dict]:
    """Long rows of one finished case folder (height and weight: from the cohort manifest)."""
    manifest = load_json(folder / "manifest.json") or {}
    rows = [*_rows(folder, manifest), *_patient_rows(height_cm, weight_kg)]
    return [dict(zip(LONG_COLUMNS, (case_id, *row))) for row in rows]


def _patient_rows(height_cm: float | None, weight_kg: float | None) -> Iterator[tuple]:
    if height_cm:
        yield _row("patient", "manifest", "height_cm", height_cm, "cm", "manifest", False)
    if weight_kg:
        yield _row("patient", "manifest", "weight_kg", weight_kg, "kg", "manifest", False)
    if height_cm and weight_kg:
        yield _row("patient", "manifest", "bmi_kg_per_m2", round(weight_kg / (height_cm / 100) ** 2, 2), "kg/m2", "manifest", False)


def _row(group: str, item: str, measure: str, value: Any, unit: str, engine: str, approximate: bool) -> tuple:
    text = None
    if isinstance(value, bool):
        value = float(value)
    elif isinstance(value, str):
        value, text = math.nan, value
    elif value is None:
        value = math.nan
    return (group, item, measure, float(value), text, unit, engine, bool(approximate))


def _rows(folder: Path, manifest: dict) -> Iterator[tuple]:
    models = manifest.get("models") or {}
    structures = load_json(folder / "structure-measurements.json") or {}
    for model, by_structure in structures.items():
        if model in NOT_ORGANS:  # the body-composition maps are in the tissue and level groups
            continue
        origin = (models.get(model) or {}).get("origin", "unknown")
        for structure, values in by_structure.items():
            if not values.get("present"):
                continue
            for measure, unit in ORGAN_MEASURES.items():
                if measure in values:
                    yield _row("organ", structure, measure, values[measure], unit, origin, origin in APPROXIMATE_ORIGINS)
    yield from _bca_rows(load_json(folder / "bca-measurements.json"))
    origin = (models.get("total") or {}).get("origin", "unknown")
    approximate = origin in APPROXIMATE_ORIGINS
    for vertebra, values in ((load_json(folder / "bone-density.json") or {}).get("vertebrae") or {}).items():
        if values.get("hu_mean") is not None:
            yield _row("level", vertebra.removeprefix("vertebrae_"), "trabecular_hu_mean", values["hu_mean"], "HU", origin, approximate)
    contrast = load_json(folder / "contrast.json")
    if contrast and contrast.get("phase"):
        predictor = contrast.get("predictor", "contrast")
        yield _row("contrast", "iv_phase", "phase", contrast["phase"], "", predictor, approximate)
        yield _row("contrast", "iv_phase", "probability", contrast.get("probability"), "1", predictor, approximate)
        yield _row("contrast", "iv_phase", "pi_time_s", contrast.get("pi_time_s"), "s", predictor, approximate)
    cnr = load_json(folder / "cnr.json")
    if cnr and cnr.get("noise_hu") is not None:
        yield _row("quality", "image", "noise_hu", cnr["noise_hu"], "HU", "cnr", approximate)
        yield _row("quality", "image", "cnr_reference_mean_hu", cnr.get("reference_mean_hu"), "HU", "cnr", approximate)
    spacing = (manifest.get("input") or {}).get("spacing_mm") or []
    if len(spacing) == 3:
        yield _row("quality", "image", "slice_spacing_mm", spacing[2], "mm", "input", False)
        yield _row("quality", "image", "pixel_spacing_mm", max(spacing[:2]), "mm", "input", False)


def _bca_rows(bca: dict | None) -> Iterator[tuple]:
    if not bca:
        return
    engine, approximate = bca.get("engine", "nnunet"), bool(bca.get("approximate"))
    for tissue, values in ((bca.get("aggregated") or {}).get("whole_scan") or {}).items():
        yield _row("tissue", tissue, "volume_ml", values.get("volume_ml"), "mL", engine, approximate)
        yield _row("tissue", tissue, "hu_mean", values.get("hu_mean"), "HU", engine, approximate)
    for level, values in (bca.get("vertebral_levels") or {}).items():
        for measure, unit in LEVEL_MEASURES.items():
            if measure in values:
                yield _row("level", level, measure, values[measure], unit, engine, approximate)


def long_table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=LONG_COLUMNS)
    table = table.astype({"value": "float64", "approximate": "bool"})
    return table.sort_values(["case", "group", "item", "measure"], kind="stable").reset_index(drop=True)


# the headline row per case: (group, item, measure) -> column
HEADLINE = [
    ("level", "L3", "muscle_area_cm2", "L3_muscle_area_cm2"),
    ("level", "L3", "muscle_hu_mean", "L3_muscle_hu_mean"),
    ("level", "L3", "sat_area_cm2", "L3_sat_area_cm2"),
    ("level", "L3", "vat_area_cm2", "L3_vat_area_cm2"),
    ("level", "L3", "imat_area_cm2", "L3_imat_area_cm2"),
    ("level", "L3", "smi_cm2_per_m2", "L3_smi_cm2_per_m2"),
    *[("organ", organ, m, f"{organ}_{m}") for organ in ("liver", "spleen", "kidney_left", "kidney_right", "pancreas")
      for m in ("volume_ml", "hu_mean")],
    ("contrast", "iv_phase", "probability", "contrast_phase_probability"),
    ("organ", "liver", "cnr", "liver_cnr"),
    ("quality", "image", "noise_hu", "noise_hu"),
    ("level", "L1", "trabecular_hu_mean", "L1_trabecular_hu_mean"),
]


def wide_table(long: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """One row per case (``status`` has columns case, status): the headline numbers."""
    wide = status[["case", "status"]].copy().set_index("case")
    index = long.set_index(["case", "group", "item", "measure"])
    for group, item, measure, column in HEADLINE:
        try:
            values = index.xs((group, item, measure), level=("group", "item", "measure"))["value"]
        except KeyError:
            values = pd.Series(dtype=float)
        wide[column] = values.reindex(wide.index)
    phase = long[(long["group"] == "contrast") & (long["measure"] == "phase")].set_index("case")["text"]
    wide.insert(wide.columns.get_loc("contrast_phase_probability"), "contrast_phase", phase.reindex(wide.index))
    approximate = long.groupby("case")["approximate"].any()
    wide["approximate"] = approximate.reindex(wide.index).fillna(False).astype(bool)
    return wide.reset_index()
