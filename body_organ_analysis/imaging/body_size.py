"""The patient's height and weight, where each came from, and the body mass index.

NIfTI files carry neither; DICOM may (Patient's Size in metres, Patient's
Weight in kg). ``--height-cm`` / ``--weight-kg`` (or BOA_HEIGHT_CM /
BOA_WEIGHT_KG) override the DICOM values. :func:`with_body_size` puts the
chosen values into ``CTVolume.patient`` (``PatientSize`` in metres, as DICOM
has it, so every reader of Patient's Size sees the override) together with
their source; :func:`body_size` summarises them for the outputs.
"""

from __future__ import annotations

import math
from typing import Any

from body_organ_analysis.settings import HEIGHT_RANGE_CM, WEIGHT_RANGE_KG

HEIGHT_GIVEN = "command line (--height-cm / BOA_HEIGHT_CM)"
WEIGHT_GIVEN = "command line (--weight-kg / BOA_WEIGHT_KG)"
FROM_DICOM_SIZE = "DICOM PatientSize"
FROM_DICOM_WEIGHT = "DICOM PatientWeight"
SIZE_SOURCE = "PatientSize_source"
WEIGHT_SOURCE = "PatientWeight_source"


def with_body_size(patient: dict[str, Any], height_cm: float | None, weight_kg: float | None) -> dict[str, Any]:
    """``patient`` with the given height/weight (they win over DICOM's) and the source of each."""
    out = dict(patient)
    if height_cm is not None:
        out["PatientSize"] = height_cm / 100.0
        out[SIZE_SOURCE] = HEIGHT_GIVEN
    elif out.get("PatientSize") is not None:
        out[SIZE_SOURCE] = FROM_DICOM_SIZE
    if weight_kg is not None:
        out["PatientWeight"] = float(weight_kg)
        out[WEIGHT_SOURCE] = WEIGHT_GIVEN
    elif out.get("PatientWeight") is not None:
        out[WEIGHT_SOURCE] = FROM_DICOM_WEIGHT
    return out


def body_size(patient: dict[str, Any]) -> dict[str, Any]:
    """Height (m), weight (kg), their sources and BMI (kg/m^2); None where unknown or implausible."""
    height = _height_m(patient.get("PatientSize"))
    weight = _in_range(patient.get("PatientWeight"), WEIGHT_RANGE_KG)
    return {
        "height_m": None if height is None else round(height, 3),
        "height_source": patient.get(SIZE_SOURCE) if height is not None else None,
        "weight_kg": None if weight is None else round(weight, 1),
        "weight_source": patient.get(WEIGHT_SOURCE) if weight is not None else None,
        "bmi_kg_per_m2": round(weight / height**2, 1) if height and weight else None,
    }


def _height_m(value: Any) -> float | None:
    """Patient's Size in metres; a value that only makes sense in centimetres is read as such."""
    number = _number(value)
    if number is None:
        return None
    low, high = (h / 100.0 for h in HEIGHT_RANGE_CM)
    if number > high and low <= number / 100.0 <= high:
        number /= 100.0
    return number if low <= number <= high else None


def _in_range(value: Any, bounds: tuple[float, float]) -> float | None:
    number = _number(value)
    return number if number is not None and bounds[0] <= number <= bounds[1] else None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
