"""Case discovery, run keys, the QC picture's orientation and the command's bad-usage messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from body_organ_analysis.cli import main
from body_organ_analysis.cohort.cases import Case, discover, read_manifest
from body_organ_analysis.cohort.gallery import coronal_rgb
from body_organ_analysis.cohort.runner import plan_cases
from body_organ_analysis.settings import RuntimeConfig, Settings


def test_discovery_names_cases_without_patient_identifiers(ts_example: Path, tmp_path: Path) -> None:
    shutil.copy(ts_example / "ct_small.nii.gz", tmp_path / "scan one.nii.gz")
    shutil.copytree(ts_example / "dicom_series_with_uids", tmp_path / "study")
    cases = discover([tmp_path])
    header = pydicom.dcmread(next(p for p in (tmp_path / "study").rglob("*") if p.is_file()), stop_before_pixels=True)
    assert [c.case_id for c in cases][0] == "scan_one"
    dicom = cases[1]
    assert len(cases) == 2 and dicom.case_id.startswith("series-") and dicom.series_uid == header.SeriesInstanceUID
    for identifier in (str(header.get("PatientID", "")), str(header.get("PatientName", "")), header.SeriesInstanceUID):
        assert not identifier or identifier not in dicom.case_id
    assert dicom.input == tmp_path / "study" or (tmp_path / "study") in dicom.input.parents


def test_same_names_in_two_folders_get_distinct_ids(ts_example: Path, tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(ts_example / "ct_small.nii.gz", tmp_path / sub / "ct.nii.gz")
    assert [c.case_id for c in discover([tmp_path / "a", tmp_path / "b"])] == ["ct", "ct-2"]


def test_manifest_checks(tmp_path: Path) -> None:
    from body_organ_analysis.errors import UsageError

    bad = tmp_path / "m.csv"
    bad.write_text("case_id,input\n../x,a.nii.gz\n")
    with pytest.raises(UsageError, match="case_id"):
        read_manifest(bad)
    bad.write_text("case_id,input,height_cm\na,a.nii.gz,tall\n")
    with pytest.raises(UsageError, match="height_cm"):
        read_manifest(bad)
    bad.write_text("case_id,input\na,a.nii.gz\na,b.nii.gz\n")
    with pytest.raises(UsageError, match="repeats"):
        read_manifest(bad)


def test_run_key_follows_content_and_options(ts_example: Path, tmp_path: Path) -> None:
    ct = tmp_path / "ct.nii.gz"
    shutil.copy(ts_example / "ct_small.nii.gz", ct)
    case = Case("c", ct)
    template = Settings(input_image=ct, output_dir=tmp_path, bca_engine="threshold")
    key = plan_cases([case], template, tmp_path / "out", False).to_run[0][1]
    assert plan_cases([case], template.replace(runtime=RuntimeConfig(verbose=True)), tmp_path / "out", False).to_run[0][1] == key
    assert plan_cases([case], template.replace(fast_total=True), tmp_path / "out", False).to_run[0][1] != key
    ct.write_bytes(ct.read_bytes() + b"\0")
    assert plan_cases([case], template, tmp_path / "out", False).to_run[0][1] != key


def test_qc_picture_is_radiological_whatever_the_storage(tmp_path: Path) -> None:
    ct = np.full((40, 30, 20), -1000.0)
    labels = np.zeros(ct.shape, np.int16)
    labels[30:36, 10:20, 12:18] = 1  # high x in RAS: the patient's right, upper part
    affine = np.diag([2.0, 2.0, 4.0, 1.0])
    picture = coronal_rgb(ct, labels, affine)
    coloured = np.argwhere(np.ptp(picture.astype(int), axis=2) > 0)
    rows, columns = picture.shape[:2]
    assert coloured[:, 1].max() < columns / 2  # the patient's right on the viewer's left
    assert coloured[:, 0].max() < rows / 2  # superior up
    assert picture.shape[:2] == (20 * 4 // 2, 40 * 2 // 2)  # square 2 mm pixels
    image = nib.Nifti1Image(ct, affine)
    start = nib.orientations.io_orientation(affine)
    for codes in (("L", "P", "S"), ("S", "R", "A")):
        transform = nib.orientations.ornt_transform(start, nib.orientations.axcodes2ornt(codes))
        other = image.as_reoriented(transform)
        other_labels = nib.orientations.apply_orientation(labels, transform)
        np.testing.assert_array_equal(coronal_rgb(np.asarray(other.dataobj), other_labels, other.affine), picture)


def test_bad_usage_is_a_clear_message(tmp_path: Path, capsys) -> None:
    assert main(["cohort", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "No cases found" in capsys.readouterr().err
    assert main(["cohort", str(tmp_path), "-o", str(tmp_path / "out"), "--celery", "--jobs", "2"]) == 2
    assert main(["cohort", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 3


def test_pacs_celery_app_carries_the_cohort_task(tmp_path: Path) -> None:
    from body_organ_analysis.cohort.celery_task import TASK_NAME, settings_from_json, settings_to_json
    from body_organ_analysis.pacs.worker import create_worker_app
    from body_organ_analysis.pacs.settings import build_worker_settings

    env = {"ORTHANC_USERNAME": "u", "ORTHANC_PASSWORD": "p", "RABBITMQ_USER": "u", "RABBITMQ_PASSWORD": "p",
           "STATS_SQLITE_PATH": str(tmp_path / "s.sqlite")}
    app = create_worker_app(build_worker_settings(env))
    app.loader.import_default_modules()  # what a worker does at start
    assert TASK_NAME in app.tasks and "boa.analyze_series" in app.tasks
    template = Settings(input_image=tmp_path, output_dir=tmp_path, runtime=RuntimeConfig(license_number="A" * 18), bca_engine="threshold",
                        segmentations={"total": tmp_path / "seg.nii.gz"}, bca_hu_windows={"fat": (-200, -40)})
    message = settings_to_json(template)
    assert "license_number" not in message and "A" * 18 not in str(message)
    assert "runtime" not in message
    worker_runtime = RuntimeConfig(license_number="B" * 18, device="cpu")
    assert settings_from_json(message, worker_runtime) == template.replace(runtime=worker_runtime)
