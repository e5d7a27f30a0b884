"""The bca step inside analyze(): files, JSON schema, workbook sheets, supplied maps, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from body_organ_analysis.cli import main as cli_main
from body_organ_analysis.pipeline import analyze
from body_organ_analysis.settings import build_settings

LEVEL_KEYS = {"slice_index", "muscle_area_cm2", "muscle_hu_mean", "sat_area_cm2", "vat_area_cm2",
              "imat_area_cm2", "smi_cm2_per_m2", "smi_missing_reason"}  # fmt: skip
STAT_KEYS = {"volume_ml", "hu_mean", "ml_per_slice_mean", "ml_per_slice_std", "ml_per_slice_min", "ml_per_slice_p25",
             "ml_per_slice_median", "ml_per_slice_p75", "ml_per_slice_max", "slice_count"}


@pytest.fixture(scope="module")
def threshold_run(ts_example: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("bca") / "out"
    settings = build_settings({
        "input_image": ts_example / "ct_small.nii.gz", "output_dir": out, "models": ("bca",),
        "segmentations": {"total": ts_example / "seg_total.nii.gz"}, "bca_engine": "threshold",
        "bca_no_pdf": True,
    }, {})  # fmt: skip
    return analyze(settings), out


def test_outputs_and_json_schema(threshold_run):
    result, out = threshold_run
    for name in ("body_regions.nii.gz", "body_parts.nii.gz", "tissues.nii.gz", "bca-measurements.json", "output.xlsx"):
        assert name in result.files
    assert "report.pdf" not in result.files  # --bca-no-pdf
    doc = json.loads((out / "bca-measurements.json").read_text())
    assert doc["engine"] == "threshold" and doc["approximate"] is True
    assert doc["hu_windows"]["muscle"] == [-29.0, 150.0] and doc["hu_windows"]["sat"] == [-190.0, -30.0]
    assert doc["tissues"] == ["muscle", "bone", "sat", "vat", "imat", "pat", "eat", "tat"]
    assert doc["examined_region"] == "abdomen"
    for key in ("aggregated", "aggregated_no_extremities"):
        assert {"whole_scan", "abdominal_cavity", "ventral_cavity", "vertebrae_L1"} <= set(doc[key])
        assert set(doc[key]["whole_scan"]["muscle"]) >= STAT_KEYS
    assert set(doc["vertebral_levels"]["L1"]) >= LEVEL_KEYS
    assert set(doc["findings"]) >= {"cavity_volumes_ml", "breast_implants"}
    for name in ("body_regions", "body_parts", "tissues"):
        assert json.loads((out / f"{name}.labels.json").read_text())["origin"] == "threshold"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["models"]["body_regions"]["origin"] == "threshold"
    assert any("approximate" in w for w in manifest["warnings"])


def test_workbook_sheets_agree_with_json(threshold_run):
    from openpyxl import load_workbook

    _, out = threshold_run
    doc = json.loads((out / "bca-measurements.json").read_text())
    book = load_workbook(out / "output.xlsx", read_only=True)
    for name in ("bca-aggregated-measurements", "bca-slice-measurements", "bca-slice-measurements_no_ext",
                 "bca-vertebral-levels"):  # fmt: skip
        assert name in book.sheetnames
    slices = list(book["bca-slice-measurements"].values)
    assert len(slices) == 1 + 30
    header = slices[0]
    assert "muscle_area_cm2" in header and "sat_volume_ml" in header and "vat_hu_mean" in header
    l1 = doc["vertebral_levels"]["L1"]
    row = slices[1 + l1["slice_index"]]
    no_ext = list(book["bca-slice-measurements_no_ext"].values)[1 + l1["slice_index"]]
    assert no_ext[header.index("muscle_area_cm2")] == pytest.approx(l1["muscle_area_cm2"], abs=1e-2)
    assert row[header.index("muscle_area_cm2")] >= no_ext[header.index("muscle_area_cm2")]
    levels = list(book["bca-vertebral-levels"].values)
    assert levels[0][0] == "vertebra" and {r[0] for r in levels[1:]} == set(doc["vertebral_levels"])
    whole_sum = sum(r[header.index("muscle_volume_ml")] for r in slices[1:])
    assert whole_sum == pytest.approx(doc["aggregated"]["whole_scan"]["muscle"]["volume_ml"], rel=1e-4)


def test_supplied_body_maps_skip_the_engine(threshold_run, ts_example: Path, tmp_path: Path):
    _, first = threshold_run
    out = tmp_path / "supplied"
    settings = build_settings({
        "input_image": ts_example / "ct_small.nii.gz", "output_dir": out, "models": ("bca",),
        "segmentations": {"total": ts_example / "seg_total.nii.gz",
                          "body_regions": first / "body_regions.nii.gz",
                          "body_parts": first / "body_parts.nii.gz"},
        "bca_no_pdf": True,
    }, {})  # fmt: skip
    result = analyze(settings)
    doc = result.results["bca"]
    before = json.loads((first / "bca-measurements.json").read_text())
    assert doc["engine"] == "nnunet" and doc["approximate"] is False
    assert doc["body_maps_origin"]["body_regions"] == "user-supplied"
    assert doc["aggregated"]["whole_scan"]["sat"] == before["aggregated"]["whole_scan"]["sat"]


def test_forcing_a_missing_region_is_a_clear_error(ts_example: Path, tmp_path: Path, capsys):
    out = tmp_path / "forced"
    code = cli_main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-m", "bca",
                     "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}", "--bca-engine", "threshold",
                     "--bca-examined-body-region", "neck", "--bca-no-pdf"])  # fmt: skip
    assert code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "does not contain the neck" in message and "abdomen" in message
    assert not out.exists() or not any(out.iterdir())


def test_hu_window_flag(tmp_path: Path):
    import argparse

    from body_organ_analysis.options import build_parser, settings_from_args
    from body_organ_analysis.errors import UsageError

    args = build_parser().parse_args(["-i", "x.nii.gz", "-o", str(tmp_path), "--bca-hu-window", "fat=-200,-40"])
    assert settings_from_args(args, {}).bca_hu_windows == {"fat": (-200.0, -40.0)}
    bad = build_parser().parse_args(["-i", "x.nii.gz", "-o", str(tmp_path), "--bca-hu-window", "fat=-40"])
    with pytest.raises(UsageError):
        settings_from_args(bad, {})
    assert isinstance(args, argparse.Namespace)


def test_every_map_is_measured_and_labelled_approximate(threshold_run):
    """The threshold engine's maps are measured like any other, and every JSON says they are approximate."""
    from openpyxl import load_workbook

    _, out = threshold_run
    structures = json.loads((out / "structure-measurements.json").read_text())
    assert {"total", "body_regions", "body_parts"} <= set(structures)
    assert structures["body_parts"]["torso"]["present"] and structures["body_regions"]["muscle"]["voxel_count"] > 0
    assert structures["provenance"]["approximate"] is True
    assert set(structures["provenance"]["approximate_models"]) == {"body_regions", "body_parts"}
    assert "threshold engine" in structures["provenance"]["text"]
    doc = json.loads((out / "bca-measurements.json").read_text())
    assert doc["provenance"]["approximate"] is True and doc["provenance"]["stand_in"] is False
    assert doc["sd_convention"].startswith("population")
    assert doc["metal"]["voxel_count"] >= 0 and doc["hu_windows"]["bone"] == [-1000.0, 3000.0]
    for name in ("cnr.json", "contrast.json", "bone-density.json"):
        assert "provenance" in json.loads((out / name).read_text()), name
    info = {row[0]: row[1] for row in load_workbook(out / "output.xlsx", read_only=True)["info"].values}
    assert info["provenance_approximate"] is True and "APPROXIMATE" in info["provenance"]
    book = load_workbook(out / "output.xlsx")
    assert {r[0].value for r in book["regions-statistics"].iter_rows(min_row=2)} >= {"body_regions", "body_parts"}
    assert book["info"]["B" + str(1 + list(info).index("provenance"))].font.color.rgb.endswith("C00000")


def test_aggregated_sheet_says_which_statistics_are_per_slice(threshold_run):
    from openpyxl import load_workbook

    _, out = threshold_run
    header = next(load_workbook(out / "output.xlsx", read_only=True)["bca-aggregated-measurements"].values)
    assert "hu_mean" in header and "volume_ml" in header
    per_slice = [c for c in header if c.startswith("ml_per_slice_")]
    assert len(per_slice) == 7 and "mean_hu" not in header and "std" not in header
