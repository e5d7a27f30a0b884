"""DICOM input: the info sheet carries the series' own values (read here with pydicom)."""

from __future__ import annotations

import openpyxl
import pydicom
import pytest


def test_info_rows_from_dicom_metadata(ts_example, tmp_path):
    from body_organ_analysis.cli import main

    series = ts_example / "dicom_series_with_uids"
    out = tmp_path / "out"
    assert main(["-i", str(series), "-o", str(out), "--skip-contrast-information",
                 "--segmentation", f"total={ts_example / 'seg_total_dicom_series.nii.gz'}"]) == 0  # fmt: skip
    info = {k: v for k, v in openpyxl.load_workbook(out / "output.xlsx")["info"].iter_rows(min_row=2, values_only=True)}
    header = pydicom.dcmread(sorted(p for p in series.rglob("*") if p.is_file())[0], stop_before_pixels=True)
    assert info["study_instance_uid"] == header.StudyInstanceUID
    assert info["series_instance_uid"] == header.SeriesInstanceUID
    assert "accession_number" not in info and header.AccessionNumber not in {str(v) for v in info.values()}  # identifying, never copied
    assert info["series_number"] == int(header.SeriesNumber) == 2
    assert "series_description" not in info and "study_date" not in info  # free text and full dates identify
    assert info["study_year"] == str(header.StudyDate)[:4]
    assert info["kvp_kv"] == pytest.approx(float(header.KVP))
    assert info["slice_thickness_mm"] == pytest.approx(float(header.SliceThickness))
    assert info["pixel_spacing_mm"] == "x".join(str(float(v)) for v in header.PixelSpacing)
    assert info["scan_length_mm"] == pytest.approx(38.0)  # 20 slices, 2 mm apart
    assert "patient_name" not in info and "patient_id" not in info
    assert info["noise_hu"] > 0 and info["contrast_phase"] is None
