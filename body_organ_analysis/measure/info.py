"""Rows of the workbook's ``info`` sheet that the measurement step contributes.

Keys carry their unit (``_hu``, ``_mm``, ``_kv``, ``_mgy``). DICOM values (never the accession number, a description or a full date: the study year only)
appear only when the input had them. Of the patient's values only age and sex
are shown (never name, ID or birth date).
"""

from __future__ import annotations

from typing import Any

from body_organ_analysis.imaging.metadata import study_year
from body_organ_analysis.imaging.volume import CTVolume

# info key -> CTVolume.metadata key
DICOM_ROWS = (
    ("study_instance_uid", "StudyInstanceUID"),
    ("series_instance_uid", "SeriesInstanceUID"),
    ("series_number", "SeriesNumber"),
    ("kvp_kv", "KVP"),
    ("ctdivol_mgy", "CTDIvol"),
    ("convolution_kernel", "ConvolutionKernel"),
    ("slice_thickness_mm", "SliceThickness"),
    ("pixel_spacing_mm", "PixelSpacing"),
)
PATIENT_ROWS = (("patient_age", "PatientAge"), ("patient_sex", "PatientSex"))
CNR_ROWS = ("aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein")


def info_rows(
    ct: CTVolume,
    structures: dict[str, dict[str, dict[str, Any]]],
    cnr: dict[str, Any],
    bone_density: dict[str, Any],
    contrast: dict[str, Any],
) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for key, source in DICOM_ROWS:
        value = ct.metadata.get(source)
        if value is not None:
            rows[key] = "x".join(str(v) for v in value) if isinstance(value, list) else value
    for key, source in PATIENT_ROWS:
        if ct.patient.get(source) is not None:
            rows[key] = ct.patient[source]
    if study_year(ct.metadata):
        rows["study_year"] = study_year(ct.metadata)
    if ct.metadata.get("scan_length_mm") is not None:
        rows["scan_length_mm"] = ct.metadata["scan_length_mm"]
    rows["noise_hu"] = cnr.get("noise_hu")
    total = structures.get("total", {})
    for name in CNR_ROWS:
        rows[f"cnr_{name}"] = (total.get(name) or {}).get("cnr")
    l1 = bone_density.get("vertebrae", {}).get("vertebrae_L1") or {}
    rows["bone_density_l1_hu"] = l1.get("hu_mean")
    rows["bone_density_l1_quality"] = l1.get("quality", "not measured")
    if l1.get("quality_reasons") or not l1:
        rows["bone_density_l1_quality_reasons"] = "; ".join(l1.get("quality_reasons") or []) or (
            l1.get("reason") or bone_density.get("reason") or "L1 is not in the scan")
    rows["contrast_phase"] = contrast.get("phase")
    rows["contrast_phase_probability"] = contrast.get("probability")
    rows["contrast_pi_time_s"] = contrast.get("pi_time_s")
    if contrast.get("phase") is None:
        rows["contrast_phase_reason"] = contrast.get("reason")
    gi = contrast.get("gi") or {}
    rows["gi_contrast"] = gi.get("gi_contrast")
    if gi.get("gi_contrast") is None and gi.get("reason"):
        rows["gi_contrast_reason"] = gi["reason"]
    return rows
