"""Measurements at vertebral levels (L3 first), and the skeletal muscle index.

At the middle slice of each vertebra present in `total` (the slice nearest the
middle of its extent in world z, mm; the inferior one of two equally near, so
the storage order does not matter), on the torso without
extremities: skeletal muscle area (cm^2) and mean HU, SAT, VAT and IMAT areas.
SMI = muscle area / height^2 (cm^2/m^2) when the patient's height is known
(DICOM Patient's Size, metres, or --height-cm, which overrides it: see
imaging/body_size.py); otherwise null with the reason.
A vertebra that touches the first or last slice is marked truncated (its
middle slice is then not its true middle).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from body_organ_analysis.bca.aggregation import VERTEBRA_ORDER
from body_organ_analysis.bca.slices import SliceTables
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.report.rounding import round_area_cm2, round_hu

FIRST = "L3"
HEIGHT_RANGE_M = (0.5, 2.5)


def patient_height_m(patient: dict[str, Any]) -> tuple[float | None, str | None]:
    size = patient.get("PatientSize") if patient else None
    if size is None:
        return None, ("patient height unknown: the input has no DICOM Patient's Size (0010,1020); "
                      "give it with --height-cm")
    try:
        height = float(size)
    except (TypeError, ValueError):
        return None, "patient height unreadable in DICOM Patient's Size"
    if height > 3 and HEIGHT_RANGE_M[0] <= height / 100 <= HEIGHT_RANGE_M[1]:
        height /= 100  # some systems store centimetres
    if not HEIGHT_RANGE_M[0] <= height <= HEIGHT_RANGE_M[1]:
        return None, f"patient height {height} m in DICOM Patient's Size is implausible"
    return height, None


def vertebral_levels(tables: SliceTables, total: LabelMap | None, patient: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if total is None or tables.total_present is None:
        return {}
    height, reason = patient_height_m(patient)
    ids = total.ids_by_name
    levels: dict[str, dict[str, Any]] = {}
    order = [FIRST] + [v for v in VERTEBRA_ORDER if v != FIRST]
    nz = tables.slice_count
    for level in order:
        label = ids.get(f"vertebrae_{level}")
        if label is None or label >= tables.total_present.shape[1]:
            continue
        present = np.flatnonzero(tables.total_present[:, label])
        if present.size == 0:
            continue
        z = middle_slice(tables.position_mm, present)
        muscle = float(tables.area_cm2("muscle", True)[z])
        levels[level] = {
            "slice_index": z,
            "position_mm": round(float(tables.position_mm[z]), 2),
            "truncated": bool(present[0] == 0 or present[-1] == nz - 1),
            "muscle_area_cm2": round_area_cm2(muscle),
            "muscle_hu_mean": round_hu(tables.mean_hu("muscle", True)[z]),
            "sat_area_cm2": round_area_cm2(tables.area_cm2("sat", True)[z]),
            "vat_area_cm2": round_area_cm2(tables.area_cm2("vat", True)[z]),
            "imat_area_cm2": round_area_cm2(tables.area_cm2("imat", True)[z]),
            "smi_cm2_per_m2": round_area_cm2(muscle / height**2) if height else None,
            "smi_missing_reason": reason,
        }
    return levels


def middle_slice(position_mm: np.ndarray, present: np.ndarray) -> int:
    """The slice nearest the middle, in world z (mm), of a structure's extent.

    Between two equally near slices the inferior one is taken, so the choice
    does not depend on the order in which the slices are stored.
    """
    ends = position_mm[[present[0], present[-1]]]
    middle = float(ends.mean())
    candidates = np.arange(present[0], present[-1] + 1)
    distance = np.round(np.abs(position_mm[candidates] - middle), 6)
    nearest = candidates[distance == distance.min()]
    return int(nearest[np.argmin(position_mm[nearest])])



LEVEL_COLUMNS = [
    "vertebra", "slice_index", "position_mm", "truncated", "muscle_area_cm2", "muscle_hu_mean",
    "sat_area_cm2", "vat_area_cm2", "imat_area_cm2", "smi_cm2_per_m2", "smi_missing_reason",
]  # fmt: skip


def level_rows(levels: dict[str, dict[str, Any]]) -> list[list]:
    return [[name] + [values[c] for c in LEVEL_COLUMNS[1:]] for name, values in levels.items()]
