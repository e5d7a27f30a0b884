"""A first run without surprises: --version and --help, the weights-free route without any
weights, and the patient's height and weight for SMI and BMI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from body_organ_analysis import __version__
from body_organ_analysis.cli import main
from body_organ_analysis.errors import ExitCode
from body_organ_analysis.models.registry import MODELS, optional_models, resolve_models

REPO = Path(__file__).resolve().parents[2]


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_version_names_the_tool_and_the_packages_behind_its_results():
    done = run_module("-m", "body_organ_analysis", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"body_organ_analysis {__version__} (")
    assert "TotalSegmentator" in done.stdout and "nnunetv2" in done.stdout and "torch" in done.stdout


def test_help_lists_every_model_with_its_description():
    done = run_module("-m", "body_organ_analysis", "--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("models (-m):", 1)[1].splitlines()
    for name, spec in MODELS.items():
        line = next(line for line in lines if line.split()[:1] == [name])
        assert spec.description.split()[0] in line
    for flag in ("--height-cm", "--weight-kg", "--version", "docs/exit_codes.md"):
        assert flag in done.stdout


def test_help_and_version_import_nothing_heavy():
    code = (
        "import sys\n"
        "from body_organ_analysis.cli import main\n"
        "for argv in (['--help'], ['--version']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('numpy', 'torch', 'nibabel', 'pydicom', 'totalsegmentator') if m in sys.modules))\n"
    )
    done = run_module("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_threshold_engine_takes_total_as_an_optional_helper():
    assert [s.name for s in resolve_models(["bca"], None, "threshold")] == ["total", "bca"]
    assert optional_models(["bca"], None, "threshold") == {"total"}
    assert optional_models(["total", "bca"], None, "threshold") == set()  # asked for: required
    assert optional_models(["bca"], None, "nnunet") == set()


@pytest.fixture(scope="module")
def no_weights(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("no-weights")


def test_weights_free_route_runs_without_any_weights(ts_example, no_weights, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-m", "bca", "--bca-engine",
                 "threshold", "--weights-dir", str(no_weights), "--offline", "--bca-no-pdf"])  # fmt: skip
    stderr = capsys.readouterr().err
    assert code == ExitCode.OK, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert "total" not in manifest["models"] and not (out / "total.nii.gz").exists()
    assert manifest["models"]["body_regions"]["origin"] == "threshold"
    assert any("optional 'total' model did not run" in w for w in manifest["warnings"])
    document = json.loads((out / "bca-measurements.json").read_text())
    assert document["used_total"] is False and document["approximate"] is True
    assert document["aggregated"]["whole_scan"]["muscle"]["volume_ml"] > 0
    assert list(no_weights.iterdir()) == []  # nothing was downloaded or unpacked


def test_total_asked_for_by_name_still_needs_its_weights(ts_example, no_weights, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-m", "total+bca", "--bca-engine",
                 "threshold", "--weights-dir", str(no_weights), "--offline"])  # fmt: skip
    assert code == ExitCode.WEIGHTS_MISSING, capsys.readouterr().err
    assert not out.exists()


@pytest.fixture(scope="module")
def sized_run(ts_example, tmp_path_factory):
    out = tmp_path_factory.mktemp("sized") / "out"
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("BOA_WEIGHT_KG", "80")
    try:
        code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-m", "bca",
                     "--bca-engine", "threshold", "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}",
                     "--height-cm", "180", "--bca-no-pdf"])  # fmt: skip
    finally:
        monkeypatch.undo()
    assert code == ExitCode.OK
    return out


def test_height_from_the_command_line_gives_smi_at_every_level(sized_run):
    document = json.loads((sized_run / "bca-measurements.json").read_text())
    levels = document["vertebral_levels"]
    assert {"L1", "T12"} <= set(levels)  # vertebrae of the real seg_total map
    for values in levels.values():
        assert values["smi_cm2_per_m2"] == pytest.approx(values["muscle_area_cm2"] / 1.8**2, abs=7e-3)  # both reported to 0.01
        assert values["smi_missing_reason"] is None


def test_bmi_and_where_height_and_weight_came_from(sized_run):
    from openpyxl import load_workbook

    size = json.loads((sized_run / "bca-measurements.json").read_text())["body_size"]
    assert size["height_m"] == 1.8 and size["weight_kg"] == 80.0
    assert size["bmi_kg_per_m2"] == round(80 / 1.8**2, 1) == 24.7
    assert "--height-cm" in size["height_source"] and "BOA_WEIGHT_KG" in size["weight_source"]
    info = {row[0]: row[1] for row in load_workbook(sized_run / "output.xlsx", read_only=True)["info"].iter_rows(
        values_only=True) if row}  # fmt: skip
    assert info["patient_bmi_kg_per_m2"] == 24.7 and "--height-cm" in info["patient_height_source"]
    settings = json.loads((sized_run / "manifest.json").read_text())["settings"]
    assert settings["height_cm"] == "set" and settings["weight_kg"] == "set"  # patient values stay out


def test_without_height_smi_says_how_to_give_it(ts_example, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-m", "bca", "--bca-engine",
                 "threshold", "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}", "--bca-no-pdf"])  # fmt: skip
    assert code == ExitCode.OK, capsys.readouterr().err
    document = json.loads((out / "bca-measurements.json").read_text())
    assert document["body_size"] == dict.fromkeys(
        ("height_m", "height_source", "weight_kg", "weight_source", "bmi_kg_per_m2"))
    level = document["vertebral_levels"]["L1"]
    assert level["smi_cm2_per_m2"] is None and "--height-cm" in level["smi_missing_reason"]


@pytest.mark.parametrize("stored,given,height,source", [
    ("1.62", None, 1.62, "DICOM PatientSize"),
    ("162", None, 1.62, "DICOM PatientSize"),  # centimetres in a metres field
    ("1.62", 180.0, 1.8, "command line (--height-cm / BOA_HEIGHT_CM)"),
    ("0", None, None, None),  # a common placeholder: unknown
    ("", None, None, None),  # empty: unknown
])  # fmt: skip
def test_dicom_height_and_the_override(stored, given, height, source, tmp_path):
    from body_organ_analysis.imaging import load_ct
    from body_organ_analysis.imaging.body_size import body_size, with_body_size
    from body_organ_analysis.demo.dicom_series import phantom, write_ct_series

    attributes = {"PatientWeight": "70", "PatientSize": stored}
    write_ct_series(tmp_path / "s", phantom(12, 24, 20), attributes=attributes)
    ct = load_ct(tmp_path / "s")
    size = body_size(with_body_size(ct.patient, given, None))
    assert size["height_m"] == height and size["height_source"] == source
    assert size["weight_kg"] == 70.0 and size["weight_source"] == "DICOM PatientWeight"
    expected_bmi = None if height is None else round(70 / height**2, 1)
    assert size["bmi_kg_per_m2"] == expected_bmi
    assert np.isfinite(ct.data).all()


def test_every_exit_code_is_documented():
    table = (REPO / "docs" / "exit_codes.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in table, code.name
