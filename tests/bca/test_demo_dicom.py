"""The demo with a DICOM phantom: the height from Patient's Size gives the skeletal muscle index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from body_organ_analysis.demo.run import run_demo
from body_organ_analysis.demo.phantom import make_phantom


def test_smi_from_dicom_patient_size(tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert run_demo(out, None, 0, {"BCA_NO_PDF": "1"}, dicom=True) == 0
    assert (out / "image.nii.gz").is_file() and not (out / "report.pdf").exists()
    doc = json.loads((out / "bca-measurements.json").read_text())
    l3 = doc["vertebral_levels"]["L3"]
    truth = make_phantom(0).truth_area_cm2("muscle", l3["slice_index"])
    assert l3["muscle_area_cm2"] == pytest.approx(truth, rel=0.01)
    assert l3["smi_cm2_per_m2"] == pytest.approx(truth / 1.75**2, rel=0.01)
    assert l3["smi_missing_reason"] is None
    printed = capsys.readouterr().out
    assert "phantom truth" in printed and "L3 skeletal muscle area" in printed
