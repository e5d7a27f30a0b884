"""A real result folder for the DICOM output tests, made by analyze() on the real DICOM series.

The measure and body-composition steps may not write their JSON files yet in
this checkout, so the JSON files the SR reads are written here from the label
map and the CT (organ volumes and mean HU computed independently with numpy),
plus a body-composition document in the contract's shape, and a small PDF.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

BCA_DOCUMENT = {
    "engine": "threshold",
    "approximate": True,
    "hu_windows": {"muscle": [-29, 150], "sat": [-190, -30]},
    "examined_region": "abdomen",
    "tissues": ["muscle", "bone", "sat", "vat", "imat", "pat", "eat", "tat"],
    "aggregated": {
        "whole_scan": {"muscle": {"volume_ml": 812.5, "hu_mean": 41.2}, "sat": {"volume_ml": 1402.0, "hu_mean": -98.7}},
        "abdominal_cavity": {"vat": {"volume_ml": 955.25, "hu_mean": -91.0}},
        "vertebrae_L1": {"imat": {"volume_ml": 12.5, "hu_mean": None}},
    },
    "aggregated_no_extremities": {},
    "vertebral_levels": {
        "L1": {"slice_index": 3, "muscle_area_cm2": 120.5, "muscle_hu_mean": 38.0, "sat_area_cm2": 150.25,
               "vat_area_cm2": 99.0, "imat_area_cm2": 4.5, "smi_cm2_per_m2": None, "smi_missing_reason": "no height"},
        "L3": {"slice_index": 12, "muscle_area_cm2": 140.75, "muscle_hu_mean": 40.5, "sat_area_cm2": 180.0,
               "vat_area_cm2": 110.5, "imat_area_cm2": 5.25, "smi_cm2_per_m2": None, "smi_missing_reason": "no height"},
    },
    "findings": {"cavity_volumes_ml": {}, "breast_implants": []},
}


def organ_measurements(result_dir: Path) -> dict:
    """Volume and mean HU of every label of total.nii.gz, computed with numpy."""
    labels = nib.load(str(result_dir / "total.nii.gz"))
    image = nib.load(str(result_dir / "image.nii.gz"))
    data, hu = np.asarray(labels.dataobj), np.asarray(image.dataobj, dtype=np.float64)
    voxel_ml = float(abs(np.linalg.det(labels.affine[:3, :3]))) / 1000.0
    names = json.loads((result_dir / "total.labels.json").read_text())["labels"]
    table = {}
    for key, name in names.items():
        mask = data == int(key)
        count = int(mask.sum())
        table[name] = {
            "present": count > 0,
            "truncated": None,
            "voxel_count": count,
            "volume_ml": count * voxel_ml if count else None,
            "hu_mean": float(hu[mask].mean()) if count else None,
        }
    return {"total": table}


def minimal_pdf() -> bytes:
    from io import BytesIO

    from reportlab.pdfgen import canvas

    buffer = BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Body and organ analysis (test report)")
    page.save()
    return buffer.getvalue()


def complete_result_folder(result_dir: Path) -> None:
    """Add the measurement JSON files and report.pdf to an analyze() output folder."""
    (result_dir / "structure-measurements.json").write_text(json.dumps(organ_measurements(result_dir)))
    (result_dir / "bca-measurements.json").write_text(json.dumps(BCA_DOCUMENT))
    (result_dir / "report.pdf").write_bytes(minimal_pdf())
