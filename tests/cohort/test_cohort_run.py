"""A 23-case cohort with --jobs 2: tables against independent values, failures, QC, resume after kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from body_organ_analysis.cli import main
from body_organ_analysis.report.rounding import round_volume_ml
from tests.cohort.conftest import ANALYSIS

REPO = Path(__file__).resolve().parents[2]
LIVER, SPLEEN = 5, 1


def cohort(manifest: Path, out: Path, *extra: str) -> int:
    return main(["cohort", "--manifest", str(manifest), "-o", str(out), *ANALYSIS, "--no-progress", *extra])


@pytest.fixture(scope="module")
def jobs2(cohort_manifest: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort-jobs2")
    assert cohort(cohort_manifest, out, "--jobs", "2") == 0
    return out


def tables(out: Path) -> dict[str, pd.DataFrame]:
    return {
        "long": pd.read_parquet(out / "cohort.parquet"),
        "wide": pd.read_excel(out / "cohort.xlsx", sheet_name="cases"),
        "qc": pd.read_excel(out / "cohort.xlsx", sheet_name="qc"),
        "failures": pd.read_csv(out / "failures.csv").drop(columns="time_utc"),
    }


def value(long: pd.DataFrame, case: str, group: str, item: str, measure: str) -> float:
    hit = long[(long["case"] == case) & (long["group"] == group) & (long["item"] == item) & (long["measure"] == measure)]
    assert len(hit) == 1, (case, group, item, measure)
    return float(hit["value"].iloc[0])


def organ_volume_ml(seg_file: Path, label: int) -> float:
    image = nib.load(str(seg_file))
    voxel_ml = abs(np.linalg.det(image.affine[:3, :3])) / 1000
    return float((np.asarray(image.dataobj) == label).sum() * voxel_ml)


def test_tables_match_the_label_maps(jobs2: Path, cohort_manifest: Path) -> None:
    long = pd.read_parquet(jobs2 / "cohort.parquet")
    assert list(long.columns) == ["case", "group", "item", "measure", "value", "text", "unit", "engine", "approximate"]
    csv = pd.read_csv(jobs2 / "cohort.csv", keep_default_na=False, na_values={"value": [""]})
    keys = ["case", "group", "item", "measure", "unit", "engine"]
    pd.testing.assert_frame_equal(csv[keys], long[keys])
    np.testing.assert_array_equal(csv["value"].to_numpy(), long["value"].to_numpy())
    manifest = pd.read_csv(cohort_manifest)
    done = sorted(set(long["case"]))
    assert len(done) == 21 and "broken" not in done and "mr_like" not in done
    for case in ("copy03", "flip_slp", "crop_8_30", "crop_xy", "thick", "dicom"):
        seg = cohort_manifest.parent / manifest.set_index("case_id").loc[case, "segmentation:total"]
        for label, name in ((LIVER, "liver"), (SPLEEN, "spleen")):
            assert value(long, case, "organ", name, "volume_ml") == round_volume_ml(organ_volume_ml(seg, label))  # as reported
    # the same CT stored in other orientations gives the same numbers
    for flip in ("flip_lps", "flip_rai", "flip_slp", "flip_ars"):
        assert_same_numbers(long, "copy02", flip)
    units = long.set_index(["group", "measure"])["unit"].groupby(level=[0, 1]).first()
    assert units[("organ", "volume_ml")] == "mL" and units[("level", "muscle_area_cm2")] == "cm2"
    assert set(long.loc[long["group"] == "tissue", "engine"]) == {"threshold"}
    assert long.loc[long["group"] == "tissue", "approximate"].all()
    assert set(long.loc[long["group"] == "organ", "engine"]) == {"user-supplied"}


def assert_same_numbers(long: pd.DataFrame, case: str, other: str, exclude_group: str | None = None) -> None:
    def numbers(name: str) -> pd.DataFrame:
        rows = long[(long["case"] == name) & (long["group"] != exclude_group)]
        return rows.drop(columns="case").reset_index(drop=True)

    pd.testing.assert_frame_equal(numbers(case), numbers(other), check_exact=False, rtol=1e-6, obj=other)


def test_level_values_do_not_depend_on_the_stored_slice_order(jobs2: Path) -> None:
    long = pd.read_parquet(jobs2 / "cohort.parquet")
    for flip in ("flip_lps", "flip_rai", "flip_slp", "flip_ars"):
        assert_same_numbers(long, "copy02", flip)


def test_smi_uses_the_manifest_height(jobs2: Path) -> None:
    long = pd.read_parquet(jobs2 / "cohort.parquet")
    area = value(long, "copy01", "level", "L1", "muscle_area_cm2")
    assert value(long, "copy01", "level", "L1", "smi_cm2_per_m2") == pytest.approx(area / 1.53**2, abs=7e-3)  # both reported to 0.01
    assert np.isnan(value(long, "copy02", "level", "L1", "smi_cm2_per_m2"))  # no height given
    assert value(long, "copy01", "patient", "manifest", "bmi_kg_per_m2") == pytest.approx(52 / 1.53**2, abs=0.01)
    assert long[(long["case"] == "copy02") & (long["group"] == "patient")].empty


def test_failure_ledger(jobs2: Path) -> None:
    failures = pd.read_csv(jobs2 / "failures.csv").set_index("case")
    assert sorted(failures.index) == ["broken", "mr_like"]
    assert failures.loc["broken", "exit_code"] == 4 and failures.loc["mr_like", "exit_code"] == 5
    assert "Hounsfield" in failures.loc["mr_like", "message"]
    assert failures["error_class"].tolist() == ["InputError", "InputError"]
    assert pd.to_datetime(failures["time_utc"]).notna().all()


def test_qc_flags_and_gallery(jobs2: Path) -> None:
    qc = pd.read_excel(jobs2 / "cohort.xlsx", sheet_name="qc").set_index("case")
    assert qc.loc["duplicate", "duplicate"] == "same input files as case copy01"
    assert qc["duplicate"].notna().sum() == 1
    assert "6 mm > 5 mm" in qc.loc["thick", "thick_slices"] and qc["thick_slices"].notna().sum() == 1
    assert qc["no_l3"].notna().all()  # the example CT ends at L2
    names = {int(k): v for k, v in json.loads((jobs2 / "cases" / "copy01" / "total.labels.json").read_text())["labels"].items()}
    seg = np.asarray(nib.load(str(jobs2 / "cases" / "copy01" / "total.nii.gz")).dataobj)
    faces = np.concatenate([seg[[0, -1]].ravel(), seg[:, [0, -1]].ravel(), seg[:, :, [0, -1]].ravel()])
    on_border = sorted(names[v] for v in set(faces.tolist()) - {0})
    listed = qc.loc["copy01", "truncated"].split(": ", 1)[1].split(", ")
    assert listed == on_border and qc.loc["copy01", "truncated"].startswith(f"{len(on_border)} structure(s)")
    assert qc["approximate"].str.contains("threshold engine").all()
    wide = pd.read_excel(jobs2 / "cohort.xlsx", sheet_name="cases").set_index("case")
    assert len(wide) == 23 and wide.loc["broken", "status"] == "failed"
    assert wide.loc["copy01", "liver_volume_ml"] == pytest.approx(
        value(pd.read_parquet(jobs2 / "cohort.parquet"), "copy01", "organ", "liver", "volume_ml"))
    assert wide.loc["copy01", "contrast_phase"] in {"native", "arterial_early", "arterial_late", "portal_venous"}
    index = (jobs2 / "qc" / "index.html").read_text()
    for case in wide.index:
        assert f"<h2>{case} " in index
    assert index.count("<img ") == 21 and "not look like Hounsfield" in index
    assert (jobs2 / "cases" / "copy01" / "qc_coronal.png").is_file()


def test_run_json(jobs2: Path) -> None:
    run = json.loads((jobs2 / "run.json").read_text())
    assert run["cases"] == 23 and run["counts"] == {"done": 21, "failed": 2, "skipped": 0}
    assert run["executor"] == "local, 2 processes" and run["options"]["bca_engine"] == "threshold"
    assert run["timings"]["cases_per_minute"] > 0 and "numpy" in run["versions"]
    assert all(entry["time_s"] is not None for entry in run["per_case"].values())
    print("jobs 2:", run["timings"])


def test_second_run_skips_everything_and_retry_failed_reruns_failures(jobs2: Path, cohort_manifest: Path, tmp_path: Path) -> None:
    before = tables(jobs2)
    assert cohort(cohort_manifest, jobs2) == 0
    run = json.loads((jobs2 / "run.json").read_text())
    assert run["ran"] == 0 and run["counts"]["skipped"] == 23
    assert cohort(cohort_manifest, jobs2, "--retry-failed") == 0
    run = json.loads((jobs2 / "run.json").read_text())
    assert run["ran"] == 2 and run["counts"] == {"done": 0, "failed": 2, "skipped": 21}
    after = tables(jobs2)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name])


def test_killed_run_resumes_to_identical_tables(jobs2: Path, cohort_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "body_organ_analysis", "cohort", "--manifest", str(cohort_manifest), "-o", str(out),
               *ANALYSIS, "--no-progress", "--jobs", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("cases/*/cohort-case.json"))) < 6:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished_before = len(list(out.glob("cases/*/cohort-case.json")))
    assert not (out / "cohort.csv").exists() and not (out / "run.json").exists()
    assert cohort(cohort_manifest, out, "--jobs", "2") == 0
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["skipped"] >= 6 and run["ran"] == 23 - finished_before
    reference, resumed = tables(jobs2), tables(out)
    for name in reference:
        pd.testing.assert_frame_equal(reference[name], resumed[name], obj=name)
