"""Delivery order with the real services: nothing is deleted before the database knows.

- a worker killed between delivery and bookkeeping: the source stays, the retry
  delivers again (one copy everywhere), records, then deletes;
- the statistics database stopped during a job: the source stays, the job is
  retried and recorded once the database is back;
- results from stand-in weights without ALLOW_STAND_IN_RESULTS: refused, nothing
  delivered, the source kept.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pacs_helpers import dicomweb_series_by_modality, dicomweb_sink_available, result_dirs, study_uid_for
from test_resilience import assert_exactly_one_copy, send_new_series

pytestmark = pytest.mark.services
HERE = Path(__file__).resolve().parent


def run_job(services, worker_env, key: str, series_id: str, *flags: str, **env: str) -> subprocess.CompletedProcess:
    """The task body of one job in its own process (tests/pacs/run_job.py), as a worker runs it."""
    return subprocess.run(
        [sys.executable, str(HERE / "run_job.py"), key, series_id, *flags], cwd=services.root,
        env={**worker_env, **env}, capture_output=True, text=True, timeout=300,
    )


def test_worker_killed_between_delivery_and_bookkeeping_keeps_the_source(
        services, worker, worker_env, pacs, ts_example, tmp_path):
    worker.stop()  # the job runs in run_job.py first; the queued message waits for the restarted worker
    try:
        key, series_id, series_uid = send_new_series(services, pacs, ts_example, tmp_path, "die-bookkeeping")
        pacs.wait_for(key, ("queued",), timeout_s=30)
        died = run_job(services, worker_env, key, series_id, "--die-before-bookkeeping")
        assert died.returncode == -9, died.stderr[-2000:]
        job = pacs.store.job(key)
        assert job["state"] == "running" and job["attempts"] == 1  # the database never heard of the delivery
        assert len(result_dirs(services.root / "results", series_uid)) == 1  # the sinks had it
        assert pacs.orthanc.exists(series_id)  # and the source is still there
        assert (services.root / "work" / key).is_dir()  # a killed process cannot tidy up: the retry does
    finally:
        worker.start()
    job = pacs.wait_for(key, ("delivered", "failed", "partially_delivered"))
    assert job["state"] == "delivered" and job["attempts"] == 2, job["reason"]
    assert_exactly_one_copy(services, series_uid, "die-bookkeeping")
    assert not pacs.orthanc.exists(series_id)  # deleted once recorded
    assert not (services.root / "work" / key).exists()


def test_database_stopped_during_a_job_keeps_the_source_and_records_later(
        services, worker, pacs, ts_example, tmp_path):
    log = services.root / "worker.log"
    key, series_id, series_uid = send_new_series(services, pacs, ts_example, tmp_path, "db-down")
    pacs.wait_for(key, ("running",), timeout_s=60)
    offset = len(log.read_bytes())
    services.postgres.stop()
    try:
        deadline = time.monotonic() + 240
        while b"statistics database unavailable" not in log.read_bytes()[offset:]:
            assert time.monotonic() < deadline, log.read_bytes()[offset:][-3000:]
            time.sleep(0.5)
        assert pacs.orthanc.exists(series_id)  # delivered perhaps, but not recorded: kept
        time.sleep(5)  # a retry or two against the stopped database
        assert pacs.orthanc.exists(series_id)
    finally:
        services.postgres.start()
    job = pacs.wait_for(key, ("delivered", "failed", "partially_delivered"))
    assert job["state"] == "delivered", job["reason"]
    assert_exactly_one_copy(services, series_uid, "db-down")
    assert not pacs.orthanc.exists(series_id)
    assert not (services.root / "work" / key).exists()


def test_stand_in_results_refused_without_the_setting(services, worker, worker_env, pacs, ts_example, tmp_path):
    worker.stop()
    try:
        key, series_id, series_uid = send_new_series(services, pacs, ts_example, tmp_path, "standin-refused")
        pacs.wait_for(key, ("queued",), timeout_s=30)
        done = run_job(services, worker_env, key, series_id, ALLOW_STAND_IN_RESULTS="false")
        assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "refused", done.stderr[-2000:]
    finally:
        worker.start()
    job = pacs.store.job(key)
    assert job["state"] == "refused" and job["reason"].startswith("stand-in weights"), job
    assert job["sinks"] is None and job["attempts"] == 1
    assert result_dirs(services.root / "results", series_uid) == []
    assert result_dirs(services.samba.share_dir, series_uid) == []
    if dicomweb_sink_available():
        assert set(dicomweb_series_by_modality(services.orthanc, study_uid_for("standin-refused"))) == {"CT"}
    assert pacs.orthanc.exists(series_id)  # kept for a person to look at
    assert not (services.root / "work" / key).exists()
    # the message still on the queue reaches the restarted worker, which leaves the refused job alone
    log = services.root / "worker.log"
    deadline = time.monotonic() + 60
    while f"job {key[:12]}: already refused".encode() not in log.read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert pacs.store.job(key)["attempts"] == 1
    assert result_dirs(services.root / "results", series_uid) == []
