"""Failures the PACS chain must survive: a killed worker, a RabbitMQ restart, a sink outage, a poison series."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from pacs_helpers import (
    dicomweb_series_by_modality, dicomweb_sink_available, make_series, result_dirs, send_series, study_uid_for,
)

pytestmark = pytest.mark.services

SMB_NAMES = (".xlsx", ".pdf", ".png")


def send_new_series(services, pacs, ts_example, folder: Path, tag: str) -> tuple[str, str, str]:
    """(job key, Orthanc series id, series UID) of a fresh copy of the real series, once queued."""
    series_uid = make_series(ts_example / "dicom_series_with_uids", folder, tag)
    assert send_series(folder, services.orthanc.dicom_port) == [0] * 20
    return pacs.queue_when_stable(series_uid), pacs.series_id(series_uid), series_uid


def assert_exactly_one_copy(services, series_uid: str, tag: str) -> None:
    dirs = result_dirs(services.root / "results", series_uid)
    assert len(dirs) == 1, dirs
    leftovers = [p for p in (services.root / "results").rglob("*") if p.name.endswith((".part", ".old"))]
    assert leftovers == []
    relative = dirs[0].relative_to(services.root / "results")
    smb = sorted(p.name for p in (services.samba.share_dir / "boa" / relative).iterdir())
    expected = sorted(p.name for p in dirs[0].iterdir() if p.name.endswith(SMB_NAMES) or p.name == "manifest.json")
    assert smb == expected
    if dicomweb_sink_available():
        outputs = dicomweb_series_by_modality(services.orthanc, study_uid_for(tag))
        label_maps = [p for p in dirs[0].glob("*.labels.json")
                      if (dirs[0] / p.name.replace(".labels.json", ".nii.gz")).is_file()]
        assert len(outputs.get("SEG", [])) == len(label_maps), outputs  # one SEG series per label map
        assert len(outputs.get("SR", [])) == 1 and len(outputs.get("DOC", [])) == 1, outputs


def test_worker_killed_mid_job_runs_it_exactly_once(services, worker, pacs, ts_example, tmp_path):
    key, series_id, series_uid = send_new_series(services, pacs, ts_example, tmp_path, "killed")
    pacs.wait_for(key, ("running",), timeout_s=60)
    worker.kill()  # the whole worker, SIGKILL, in the middle of the job
    assert pacs.store.job(key)["state"] == "running"
    assert pacs.orthanc.exists(series_id)
    worker.start()
    job = pacs.wait_for(key, ("delivered", "failed", "partially_delivered"))
    assert job["state"] == "delivered", job["reason"]
    assert job["attempts"] == 2
    assert_exactly_one_copy(services, series_uid, "killed")
    assert not pacs.orthanc.exists(series_id)


def test_rabbitmq_restart_loses_no_queued_job(services, worker, pacs, ts_example, tmp_path):
    worker.stop()
    jobs = [send_new_series(services, pacs, ts_example, tmp_path / tag, tag) for tag in ("restart-a", "restart-b")]
    for key, _, _ in jobs:
        pacs.wait_for(key, ("queued",), timeout_s=30)
    queued = services.rabbitmq.ctl("list_queues", "-q", "name", "messages", "durable")
    assert f"{pacs.settings.queue}\t2\ttrue" in queued
    services.rabbitmq.stop(kill_epmd=False)
    services.rabbitmq.start()
    queued = services.rabbitmq.ctl("list_queues", "-q", "name", "messages")
    assert f"{pacs.settings.queue}\t2" in queued
    worker.start()
    for (key, series_id, series_uid), tag in zip(jobs, ("restart-a", "restart-b")):
        job = pacs.wait_for(key, ("delivered", "failed", "partially_delivered"))
        assert job["state"] == "delivered", job["reason"]
        assert job["attempts"] == 1
        assert_exactly_one_copy(services, series_uid, tag)


def test_sink_down_is_retried_and_the_source_kept(services, worker, pacs, ts_example, tmp_path):
    services.samba.stop()
    try:
        key, series_id, series_uid = send_new_series(services, pacs, ts_example, tmp_path, "smb-down")
        job = pacs.wait_for(key, ("queued",), timeout_s=120, condition=lambda j: j["attempts"] >= 1)
        assert "smb" in job["reason"] and job["sinks"]["folder"]["ok"] and not job["sinks"]["smb"]["ok"]
        assert job["sinks"]["smb"]["tries"] == 2  # SINK_RETRIES=1: one retry inside the attempt
        assert pacs.orthanc.exists(series_id)  # kept while a sink has not confirmed
    finally:
        services.samba.start()
    job = pacs.wait_for(key, ("delivered", "failed", "partially_delivered"))
    assert job["state"] == "delivered", job["reason"]
    assert job["attempts"] == 2
    assert_exactly_one_copy(services, series_uid, "smb-down")
    assert not pacs.orthanc.exists(series_id)


def test_poison_series_is_parked_and_the_queue_drains(services, worker, pacs, ts_example, tmp_path):
    key, series_id, _ = send_new_series(services, pacs, ts_example, tmp_path / "poison", "poison")
    attempts = pacs.settings.task_max_attempts
    for attempt in range(1, attempts + 1):  # the series kills its worker process every time
        pacs.wait_for(key, ("running",), timeout_s=60, condition=lambda j, a=attempt: j["attempts"] == a)
        deadline = time.monotonic() + 10
        while not worker.children() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in worker.children():
            os.kill(pid, signal.SIGKILL)
    job = pacs.wait_for(key, ("failed",), timeout_s=60)
    assert job["reason"] == f"parked after {attempts} attempts (the last one did not finish)"
    assert job["attempts"] == attempts
    assert pacs.orthanc.exists(series_id)  # never delivered: the source stays for a person to look at
    next_key, next_series, _ = send_new_series(services, pacs, ts_example, tmp_path / "after", "after-poison")
    assert pacs.wait_for(next_key, ("delivered", "failed"))["state"] == "delivered"
    queued = services.rabbitmq.ctl("list_queues", "-q", "name", "messages")
    assert f"{pacs.settings.queue}\t0" in queued
