"""The workbook read back with openpyxl equals the JSON files."""

from __future__ import annotations

import openpyxl
import pytest

from body_organ_analysis.measure.stage import STATISTICS_COLUMNS
from body_organ_analysis.measure.structures import STAT_KEYS
from tests.measure.conftest import read_json


def cell_equal(cell, value) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return cell == value
    return cell == pytest.approx(value, rel=1e-14, abs=1e-12)


@pytest.fixture(scope="module")
def workbook(analyzed):
    return openpyxl.load_workbook(analyzed / "output.xlsx")


def test_sheets_and_units(workbook):
    assert workbook.sheetnames == ["info", "regions-statistics", "cnr-adjusted", "bone-density"]
    assert [key for _, key in STATISTICS_COLUMNS] == list(STAT_KEYS)
    header = [c.value for c in workbook["regions-statistics"][1]]
    assert header[2:] == list(STAT_KEYS)  # one spelling: the JSON keys
    for column in header[2:]:  # the unit in the name (the CNR has none)
        assert column.startswith("hu_") or column.endswith(("_ml", "_count")) or column in ("present", "truncated", "cnr")


def test_readable_columns_and_frozen_header(workbook):
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        for column in sheet.iter_cols(min_row=1, max_row=min(sheet.max_row, 200)):
            letter = column[0].column_letter
            widest = max(len(str(c.value)) for c in column if c.value is not None)
            assert sheet.column_dimensions[letter].width >= min(widest, 78), (sheet.title, letter)
    info = {row[0].value: row for row in workbook["info"].iter_rows(min_row=2)}
    assert info["provenance_stand_in_weights"][1].value is False and info["provenance_approximate"][1].value is False
    assert "population" in info["sd_convention"][1].value


def test_regions_statistics_equal_the_json(workbook, analyzed):
    structures = read_json(analyzed / "structure-measurements.json")
    rows = list(workbook["regions-statistics"].iter_rows(min_row=2, values_only=True))
    expected = [(m, s, e) for m, entries in structures.items() if m != "provenance" for s, e in entries.items()]
    assert len(rows) == len(expected) == 117
    for row, (model, name, entry) in zip(rows, expected):
        assert row[:2] == (model, name)
        for cell, (_, key) in zip(row[2:], STATISTICS_COLUMNS):
            assert cell_equal(cell, entry[key]), (name, key, cell, entry[key])


def test_info_sheet(workbook, analyzed):
    info = {k: v for k, v in workbook["info"].iter_rows(min_row=2, values_only=True)}
    structures = read_json(analyzed / "structure-measurements.json")["total"]
    cnr = read_json(analyzed / "cnr.json")
    contrast = read_json(analyzed / "contrast.json")
    bone = read_json(analyzed / "bone-density.json")
    assert info["tool_version"] and info["input"] == "ct_small.nii.gz"
    assert cell_equal(info["noise_hu"], cnr["noise_hu"])
    for name in ("aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein"):
        assert cell_equal(info[f"cnr_{name}"], structures[name]["cnr"])
    assert cell_equal(info["bone_density_l1_hu"], bone["vertebrae"]["vertebrae_L1"]["hu_mean"])
    assert info["bone_density_l1_quality"] == "check" and "T12" in info["bone_density_l1_quality_reasons"]
    assert info["contrast_phase"] == contrast["phase"] == "native"
    assert info["scan_length_mm"] == 87  # 30 slices of 3 mm
    assert "study_instance_uid" not in info  # NIfTI input: no DICOM rows


def test_cnr_adjusted_and_bone_density_sheets(workbook, analyzed):
    adjusted = read_json(analyzed / "cnr.json")["adjusted"]
    rows = list(workbook["cnr-adjusted"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == list(adjusted)
    for row in rows:
        entry = adjusted[row[0]]
        assert cell_equal(row[3], entry["hu_mean"]) and cell_equal(row[6], entry["cnr"])
    bone = read_json(analyzed / "bone-density.json")
    rows = list(workbook["bone-density"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == list(bone["vertebrae"])
    assert all(cell_equal(r[1], bone["vertebrae"][r[0]]["hu_mean"]) for r in rows)
    assert all(r[5] == bone["vertebrae"][r[0]]["quality"] for r in rows)


def test_no_cnr_adjusted_sheet_without_the_flag(ts_example, tmp_path):
    from body_organ_analysis.cli import main

    out = tmp_path / "out"
    assert main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "--segmentation",
                 f"total={ts_example / 'seg_total_fast.nii.gz'}"]) == 0  # fmt: skip
    names = openpyxl.load_workbook(out / "output.xlsx").sheetnames
    assert "cnr-adjusted" not in names and "adjusted" not in read_json(out / "cnr.json")
    assert not (out / "preview_total.png").exists()


def test_log_says_supplied_not_segmented(ts_example, tmp_path, capsys):
    from body_organ_analysis.cli import main

    out = tmp_path / "out"
    assert main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "--skip-contrast-information",
                 "--segmentation", f"total={ts_example / 'seg_total_fast.nii.gz'}"]) == 0  # fmt: skip
    log = capsys.readouterr().err
    assert "total: supplied with --segmentation" in log and "segment total done" not in log
