"""The CT's descriptive values, split into non-identifying and identifying ones.

``metadata`` (study and series facts, scanner, dose, scan length) may appear in
outputs and the manifest; ``patient`` (name, ID, birth date, sex, age, size,
weight) only on report sheets. Every key is always present, None when unknown,
so later steps can read them without guessing. Values are JSON-ready.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from body_organ_analysis.imaging.orientation import array_axis, voxel_spacing

METADATA_KEYS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Modality",
    "Manufacturer", "ManufacturerModelName", "KVP", "CTDIvol", "XRayTubeCurrent", "ExposureTime",
    "ConvolutionKernel", "SliceThickness", "PixelSpacing", "ImageType", "ContrastBolusAgent",
    "BodyPartExamined", "AccessionNumber", "StudyDate", "SeriesDate", "StudyDescription",
    "ProtocolName", "TransferSyntaxUID",
)  # fmt: skip
PATIENT_KEYS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "PatientSize", "PatientWeight",
)  # fmt: skip
NUMERIC_KEYS = {"KVP", "CTDIvol", "XRayTubeCurrent", "ExposureTime", "SliceThickness",
                "PatientSize", "PatientWeight"}  # fmt: skip


def study_year(metadata: dict[str, Any]) -> str | None:
    """The study's year (StudyDate, else SeriesDate): what reports show of a date. A full date
    identifies a patient's visit; a year alone does not."""
    date = str(metadata.get("StudyDate") or metadata.get("SeriesDate") or "")
    return date[:4] if len(date) >= 4 and date[:4].isdigit() else None


def dicom_metadata(header: Dataset, affine: np.ndarray, shape: tuple[int, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {key: _value(header, key) for key in METADATA_KEYS}
    meta = getattr(header, "file_meta", None)
    values["TransferSyntaxUID"] = str(meta.TransferSyntaxUID) if meta and "TransferSyntaxUID" in meta else None
    if values["SeriesNumber"] is not None:
        values["SeriesNumber"] = _int_or_text(values["SeriesNumber"])
    return {**values, **_grid_facts(shape, affine)}


def nifti_metadata(shape: tuple[int, ...], affine: np.ndarray) -> dict[str, Any]:
    return {**{key: None for key in METADATA_KEYS}, **_grid_facts(shape, affine)}


def patient_values(header: Dataset | None) -> dict[str, Any]:
    return {key: (_value(header, key) if header is not None else None) for key in PATIENT_KEYS}


def _grid_facts(shape: tuple[int, ...], affine: np.ndarray) -> dict[str, Any]:
    """Scan length: distance between the centres of the first and last slice (head-feet axis)."""
    spacing = voxel_spacing(affine)
    axis = array_axis(affine, 2)
    return {
        "slice_count": int(shape[axis]),
        "scan_length_mm": round(float((shape[axis] - 1) * spacing[axis]), 3),
        "voxel_spacing_mm": [round(float(s), 6) for s in spacing],
    }


def _value(header: Dataset, keyword: str) -> Any:
    element = header.get(keyword)
    if element is None or element == "":
        return None
    if keyword in NUMERIC_KEYS:
        try:
            return float(element)
        except (TypeError, ValueError):
            return None
    if keyword in ("PixelSpacing",):
        return [float(v) for v in element]
    if keyword in ("ConvolutionKernel", "ImageType") and not isinstance(element, str):
        return "\\".join(str(v) for v in element)
    text = str(element).strip()
    return text or None


def _int_or_text(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value
