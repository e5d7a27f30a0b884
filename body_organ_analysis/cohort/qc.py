"""Quality-control flags of one case, from its long rows and its manifest.

The plausibility ranges below are gross-error bounds, wide enough that any
adult CT should fall inside; each names where it comes from. They catch broken
segmentations and wrong units, they are not reference ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MAX_SLICE_SPACING_MM = 5.0
MIN_CONTRAST_PROBABILITY = 0.7


@dataclass(frozen=True)
class Range:
    group: str
    item: str
    measure: str
    low: float
    high: float
    source: str
    skip_truncated: bool = True  # a structure cut by the scan border is legitimately small


RANGES = (
    Range("organ", "liver", "volume_ml", 500, 4000, "gross-error bound of this tool (adult livers are about 1-2 L)"),
    Range("organ", "spleen", "volume_ml", 20, 2000, "gross-error bound of this tool (adult spleens are about 0.1-0.3 L)"),
    Range("organ", "kidney_left", "volume_ml", 40, 600, "gross-error bound of this tool (adult kidneys are about 0.1-0.2 L)"),
    Range("organ", "kidney_right", "volume_ml", 40, 600, "gross-error bound of this tool (adult kidneys are about 0.1-0.2 L)"),
    Range("organ", "liver", "hu_mean", -100, 300, "gross-error bound of this tool (soft tissue, unenhanced to arterial)", False),
    Range("organ", "spleen", "hu_mean", -50, 300, "gross-error bound of this tool (soft tissue, unenhanced to arterial)", False),
    Range("level", "L3", "muscle_hu_mean", -29, 150, "muscle HU window -29..150 (Mitsiopoulos et al., J Appl Physiol 1998): the mean must lie inside", False),
    Range("level", "L3", "smi_cm2_per_m2", 15, 120, "gross-error bound of this tool (sarcopenia cut-offs lie near 40-55 cm2/m2)", False),
    Range("quality", "image", "noise_hu", 0, 100, "gross-error bound of this tool (image noise SD in muscle)", False),
)


def case_flags(rows: pd.DataFrame, manifest: dict, ran_bca: bool) -> dict:
    """QC of one case: flag name -> detail (empty text: not raised)."""
    def value(group: str, item: str, measure: str) -> float | None:
        hit = rows[(rows["group"] == group) & (rows["item"] == item) & (rows["measure"] == measure)]
        return None if hit.empty or pd.isna(hit["value"].iloc[0]) else float(hit["value"].iloc[0])

    organs = rows[(rows["group"] == "organ") & (rows["measure"] == "truncated") & (rows["value"] == 1)]
    truncated = sorted(organs["item"].unique())
    flags = {
        "truncated": f"{len(truncated)} structure(s) touch the scan border: {', '.join(truncated)}" if truncated else "",
        "no_l3": "",
        "thick_slices": "",
        "contrast_uncertain": "",
        "implausible": "",
        "approximate": "",
    }
    levels = set(rows.loc[rows["group"] == "level", "item"])
    has_l3 = "L3" in levels if ran_bca else value("organ", "vertebrae_L3", "volume_ml") is not None
    if not has_l3:
        flags["no_l3"] = "no L3 vertebra in the field of view: no L3 body-composition values"
    spacing = value("quality", "image", "slice_spacing_mm")
    if spacing is not None and spacing > MAX_SLICE_SPACING_MM:
        flags["thick_slices"] = f"slice spacing {spacing:g} mm > {MAX_SLICE_SPACING_MM:g} mm"
    probability = value("contrast", "iv_phase", "probability")
    if probability is None or probability < MIN_CONTRAST_PROBABILITY:
        flags["contrast_uncertain"] = (
            "no contrast phase prediction" if probability is None
            else f"contrast phase probability {probability:.2f} < {MIN_CONTRAST_PROBABILITY}"
        )
    outside = []
    for rule in RANGES:
        found = value(rule.group, rule.item, rule.measure)
        if found is None or (rule.skip_truncated and rule.item in truncated):
            continue
        if not rule.low <= found <= rule.high:
            outside.append(f"{rule.item} {rule.measure} {found:.4g} outside {rule.low:g}..{rule.high:g} ({rule.source})")
    flags["implausible"] = "; ".join(outside)
    approximate = []
    if manifest.get("stand_in_models"):
        approximate.append("stand-in model weights: numbers are not clinical")
    origins = {name: record.get("origin") for name, record in (manifest.get("models") or {}).items()}
    threshold = sorted(name for name, origin in origins.items() if origin == "threshold")
    if threshold:
        approximate.append(f"weights-free threshold engine for {', '.join(threshold)}: approximate")
    flags["approximate"] = "; ".join(approximate)
    return flags


QC_FLAGS = ("truncated", "no_l3", "thick_slices", "contrast_uncertain", "implausible", "approximate", "duplicate")
