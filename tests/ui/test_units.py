"""The UI's parts without a browser: password, start-up safety, paths, clean-up, voxel read-out,
tables, the background worker and the PACS jobs queries."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.ui import cleanup, jobs, pacs_jobs, tables, volumes
from body_organ_analysis.ui.cli import build_parser, check_safety, is_loopback, streamlit_command
from body_organ_analysis.ui.config import config_from_env, inside_data_root
from body_organ_analysis.ui.password import hash_password, is_valid_hash, verify_password
from body_organ_analysis.ui.runs import new_run
from body_organ_analysis.errors import UsageError

LIVER = 5


def test_password_hash_checks_right_wrong_and_malformed():
    stored = hash_password("correct horse battery")
    assert is_valid_hash(stored) and "correct" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("correct horse battery", "scrypt$1$2$3$bad")
    assert hash_password("same") != hash_password("same")  # salted


def test_other_address_without_password_hash_is_refused():
    args = build_parser().parse_args(["--host", "0.0.0.0"])
    with pytest.raises(UsageError, match="BOA_UI_PASSWORD_HASH"):
        check_safety(args, {})
    with pytest.raises(UsageError, match="not a hash"):
        check_safety(args, {"BOA_UI_PASSWORD_HASH": "plain-text-password"})
    check_safety(args, {"BOA_UI_PASSWORD_HASH": hash_password("a long password")})
    check_safety(build_parser().parse_args([]), {})  # loopback needs none
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_refusal_is_an_exit_code_and_a_message(capsys):
    from body_organ_analysis.cli import main

    assert main(["ui", "--host", "0.0.0.0", "--port", "1"]) == 2  # refused before anything listens
    assert "Refusing to listen on 0.0.0.0" in capsys.readouterr().err


def test_streamlit_command_carries_the_limits():
    command = streamlit_command(build_parser().parse_args(["--port", "9999", "--max-upload-mb", "123"]))
    text = " ".join(command)
    assert "--server.address 127.0.0.1" in text and "--server.port 9999" in text
    assert "--server.maxUploadSize 123" in text and "--browser.gatherUsageStats false" in text


def test_data_root_paths_never_leave_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "cases").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "escape").symlink_to(tmp_path / "secret")
    assert inside_data_root(root.resolve(), "cases") == (root / "cases").resolve()
    assert inside_data_root(root.resolve(), "../secret") is None
    assert inside_data_root(root.resolve(), "escape") is None
    assert inside_data_root(root.resolve(), "/etc") is None


def test_cleanup_removes_old_work_folders_only(tmp_path):
    config = config_from_env({"BOA_UI_RESULTS_DIR": str(tmp_path), "BOA_UI_WORK_RETENTION_H": "1"})
    old, fresh, running = new_run(config), new_run(config), new_run(config)
    (running.folder / "status.json").write_text(json.dumps({"state": "running"}))
    past = time.time() - 2 * 3600
    for run in (old, running):
        os.utime(run.work, (past, past))
    removed = cleanup.sweep(config)
    assert removed == [old.work]
    assert not old.work.exists() and fresh.work.exists() and running.work.exists()
    assert old.folder.exists()  # results stay unless a run retention is configured


def test_voxel_readout_is_the_same_in_every_storage_order(ts_example, tmp_path):
    ct, seg = nib.load(str(ts_example / "ct_small.nii.gz")), nib.load(str(ts_example / "seg_total.nii.gz"))
    liver = np.argwhere(np.asarray(seg.dataobj) == LIVER)[1234]
    mm = (ct.affine @ np.array([*liver, 1.0]))[:3].tolist()
    expected_hu = float(np.asarray(ct.dataobj)[tuple(liver)])
    for order in (("R", "A", "S"), ("L", "P", "S"), ("A", "S", "L")):
        folder = tmp_path / "".join(order)
        folder.mkdir()
        for image, name in ((ct, "ct.nii.gz"), (seg, "total.nii.gz")):
            nib.save(image.as_reoriented(_ornt(image, order)), str(folder / name))
        (folder / "total.labels.json").write_text(json.dumps({"labels": {"5": "liver", "1": "spleen"}}))
        reading = volumes.read_voxel(folder / "ct.nii.gz", folder / "total.nii.gz", mm)
        assert reading is not None and reading.structure == "liver" and reading.hu == expected_hu
    assert volumes.read_voxel(folder / "ct.nii.gz", None, [1e5, 0, 0]) is None


def _ornt(image: nib.Nifti1Image, order: tuple[str, str, str]) -> np.ndarray:
    from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

    return ornt_transform(io_orientation(image.affine), axcodes2ornt(order))


def test_interior_point_lies_deep_inside_the_structure(ts_example):
    seg_path = ts_example / "seg_total.nii.gz"
    seg = nib.load(str(seg_path))
    mm = volumes.interior_point_mm(seg_path, LIVER)
    index = tuple(np.rint(np.linalg.inv(seg.affine) @ np.array([*mm, 1.0]))[:3].astype(int))
    from scipy import ndimage

    # the scan's edge counts as the structure's border (a truncated organ's centre is not at the edge)
    depth = ndimage.distance_transform_edt(np.pad(np.asarray(seg.dataobj) == LIVER, 1))[1:-1, 1:-1, 1:-1]
    assert depth[index] == depth.max()
    assert volumes.interior_point_mm(seg_path, 250) is None


@pytest.fixture(scope="module")
def finished_run(ts_example, tmp_path_factory):
    """One real run through the UI's background worker (supplied total map: no weights needed)."""
    config = config_from_env({"BOA_UI_RESULTS_DIR": str(tmp_path_factory.mktemp("ui-results"))})
    run = new_run(config)
    jobs.start(run, {"input_image": str(ts_example / "ct_small.nii.gz"), "models": ["total"], "offline": True,
                     "segmentations": {"total": str(ts_example / "seg_total.nii.gz")}})  # fmt: skip
    deadline = time.time() + 300
    while jobs.current_status(run)["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    return run


def test_worker_runs_analyze_and_reports_progress(finished_run, ts_example):
    status = finished_run.status()
    assert status["state"] == "done", status
    assert status["fraction"] == 1.0 and status["done_stages"][0] == "load"
    assert "contrast" in status["done_stages"]
    assert (finished_run.output / "manifest.json").is_file()
    assert finished_run.ct_path() is not None
    viewer_ct = nib.load(str(finished_run.ct_path()))
    original = nib.load(str(ts_example / "ct_small.nii.gz"))
    assert np.array_equal(viewer_ct.affine, original.affine)
    assert np.array_equal(np.asarray(viewer_ct.dataobj), np.asarray(original.dataobj))
    assert "ct_small" not in finished_run.log_tail(200)  # the log carries no input names


def test_organ_table_matches_the_json_and_the_masks(finished_run, ts_example):
    table = tables.organ_table(finished_run.output)
    document = json.loads((finished_run.output / "structure-measurements.json").read_text())["total"]
    assert set(table.index) == {name for name, v in document.items() if v["present"]}
    seg = np.asarray(nib.load(str(ts_example / "seg_total.nii.gz")).dataobj)
    assert table.loc["liver", "voxels"] == int((seg == LIVER).sum())
    assert table.loc["liver", "volume (mL)"] == pytest.approx((seg == LIVER).sum() * 27 / 1000, rel=1e-3)
    assert all("(" in c or c.startswith(("HU", "CNR", "voxels", "truncated")) for c in table.columns)


def test_worker_reports_the_boa_error_of_a_bad_input(tmp_path):
    config = config_from_env({"BOA_UI_RESULTS_DIR": str(tmp_path)})
    run = new_run(config)
    bogus = run.work / "ct.nii.gz"
    bogus.write_text("not a nifti")
    jobs.start(run, {"input_image": str(bogus), "models": ["total"], "offline": True})
    deadline = time.time() + 120
    while jobs.current_status(run)["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.3)
    status = run.status()
    assert status["state"] == "failed" and status["exit_code"] == 4, status
    assert "Traceback" not in status["message"] and "ct.nii.gz" in status["message"]
    assert not (run.output / "manifest.json").exists()


def test_provenance_banners_are_the_pdfs(tmp_path):
    """The UI shows exactly the text the PDF banner and the workbook note carry."""
    from body_organ_analysis.report.provenance import run_provenance, with_provenance

    for records, word in (({"total": {"origin": "stand-in"}}, "TEST RUN"), ({"body_regions": {"origin": "threshold"}}, "APPROXIMATE")):
        provenance = run_provenance({}, records)
        (tmp_path / "structure-measurements.json").write_text(json.dumps(with_provenance({}, provenance)))
        assert tables.provenance_banners(tmp_path) == [provenance.text] and provenance.text.startswith(word)
    (tmp_path / "structure-measurements.json").write_text(json.dumps(with_provenance({}, run_provenance({}, {"total": {"origin": "user-supplied"}}))))
    assert tables.provenance_banners(tmp_path) == []


def test_pacs_jobs_are_read_only_and_carry_job_keys_only(tmp_path):
    pytest.importorskip("celery")
    from body_organ_analysis.pacs.stats import StatsStore

    path = tmp_path / "stats.sqlite"
    store = StatsStore(None, path)
    store.migrate()
    for n, state in enumerate(["delivered", "failed", "delivered"]):
        key = f"job{n}"
        store.create_job(key, f"orthanc-series-{n}", 20, "SCANNER")
        store.mark_queued(key)
        store.begin_attempt(key, 3)
        store.finish(key, state, reason="model failed" if state == "failed" else None,
                     timings_s={"segment total": 2.0 + n})  # fmt: skip
    before = path.read_bytes()
    config = config_from_env({"BOA_UI_RESULTS_DIR": str(tmp_path), "STATS_SQLITE_PATH": str(path)})
    jobs_table = pacs_jobs.load_jobs(config)
    assert path.read_bytes() == before
    assert list(jobs_table["job_key"]) == ["job0", "job1", "job2"]
    assert "orthanc_series_id" not in jobs_table and "calling_aet" not in jobs_table
    counts = pacs_jobs.by_state_and_day(jobs_table)
    assert counts["delivered"].sum() == 2 and counts["failed"].sum() == 1
    durations = pacs_jobs.stage_durations(jobs_table)
    assert durations.loc["segment total", "median"] == 3.0 and durations.loc["segment total", "count"] == 3
    assert list(pacs_jobs.failures(jobs_table)["reason"]) == ["model failed"]
    missing = config_from_env({"STATS_SQLITE_PATH": str(tmp_path / "none.sqlite")})
    with pytest.raises(pacs_jobs.StatsUnavailable):
        pacs_jobs.load_jobs(missing)


def test_cancel_stops_the_worker_and_leaves_no_output(ts_example, tmp_path):
    config = config_from_env({"BOA_UI_RESULTS_DIR": str(tmp_path)})
    run = new_run(config)
    jobs.start(run, {"input_image": str(ts_example / "ct_small.nii.gz"), "models": ["total", "bca"], "offline": True,
                     "bca_engine": "threshold", "segmentations": {"total": str(ts_example / "seg_total.nii.gz")}})  # fmt: skip
    deadline = time.time() + 60
    while not jobs.current_status(run).get("done_stages") and time.time() < deadline:
        time.sleep(0.05)  # cancel once the analysis has begun (the label maps are staged after "load")
    jobs.cancel(run)
    deadline = time.time() + 60
    while jobs.is_alive(run) and time.time() < deadline:
        time.sleep(0.2)
    assert jobs.current_status(run)["state"] == "cancelled"
    assert not (run.output / "manifest.json").exists()
    assert not list(run.folder.rglob(".boa-staging*"))  # no staging folder left
