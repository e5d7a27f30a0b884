"""The PACS chain with real Orthanc, RabbitMQ, PostgreSQL, Samba and a real Celery worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from pacs_helpers import result_dirs, dicomweb_sink_available, make_series, send_series

pytestmark = pytest.mark.services

HOSTILE_NAME = "Secretname^Hostile"
HOSTILE = {
    "PatientName": HOSTILE_NAME,
    "AccessionNumber": "../../../../tmp/evil",
    "SeriesNumber": "2",
    "SeriesDescription": "../../../etc/passwd",
    "StudyDate": "../../..",
}


@pytest.fixture(scope="module")
def delivered(services, worker, pacs, ts_example, tmp_path_factory):
    """One series with hostile tag values sent by C-STORE, queued by the trigger, delivered by the worker."""
    folder = tmp_path_factory.mktemp("hostile")
    series_uid = make_series(ts_example / "dicom_series_with_uids", folder, "e2e", **HOSTILE)
    statuses = send_series(folder, services.orthanc.dicom_port)
    assert statuses == [0] * 20
    series_id = pacs.series_id(series_uid)
    key = pacs.queue_when_stable(series_uid)
    job = pacs.wait_for(key, ("delivered", "failed", "partially_delivered"))
    return {"key": key, "job": job, "series_id": series_id, "series_uid": series_uid}


def test_delivered_to_folder_and_smb(services, delivered):
    job = delivered["job"]
    assert job["state"] == "delivered", job["reason"]
    dirs = result_dirs(services.root / "results", delivered["series_uid"])
    assert len(dirs) == 1
    relative = dirs[0].relative_to(services.root / "results")
    assert relative.parts[0] == "SCANNER1"
    assert len(relative.parts) == 3 and relative.parts[1].startswith("nodate_tmp_evil")  # sanitised, inside
    files = {p.name for p in dirs[0].iterdir()}
    assert {"total.nii.gz", "total.labels.json", "manifest.json", "image.nii.gz"} <= files
    manifest = json.loads((dirs[0] / "manifest.json").read_text())
    assert manifest["input"]["shape"][2] == 20
    smb_dir = services.samba.share_dir / "boa" / relative
    smb = sorted(p.name for p in smb_dir.iterdir())
    expected_smb = sorted(f for f in files if f.endswith((".xlsx", ".pdf", ".png")) or f == "manifest.json")
    assert smb == expected_smb
    assert (smb_dir / "manifest.json").read_bytes() == (dirs[0] / "manifest.json").read_bytes()


def test_nothing_escapes_the_output_root(services, delivered):
    assert not Path("/tmp/evil").exists()
    for base in (services.root / "results", services.samba.share_dir):
        for path in base.rglob("*"):
            assert path.resolve().is_relative_to(base.resolve())
            assert "Secretname" not in str(path) and ".." not in path.parts


def test_job_row_in_postgresql(services, delivered):
    import psycopg2

    job = delivered["job"]
    assert job["attempts"] == 1 and job["models"] == "total" and job["instances"] == 20
    assert job["image_shape"] == "512x512x20"
    assert job["calling_aet"] == "SCANNER1"
    assert job["timings_s"]["download"] > 0 and job["timings_s"]["sink folder"] >= 0
    assert "sink smb" in job["timings_s"] and any(k.startswith("analysis segment total") for k in job["timings_s"])
    assert job["sinks"]["folder"]["ok"] and job["sinks"]["smb"]["ok"]
    with psycopg2.connect(services.postgres.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT row_to_json(j)::text FROM jobs j UNION ALL SELECT row_to_json(r)::text FROM rejected_series r")
        dump = "\n".join(r[0] for r in cur.fetchall())
    assert delivered["key"] in dump
    assert "Secretname" not in dump and "Hostile" not in dump


def test_source_deleted_after_delivery(delivered, pacs):
    assert not pacs.orthanc.exists(delivered["series_id"])


def test_patient_name_never_in_logs(services, delivered, trigger_process):
    assert trigger_process.poll() is None  # the deployed trigger process keeps running
    for log in (services.root / "worker.log", services.root / "trigger.log", services.root / "orthanc" / "orthanc.log"):
        text = log.read_text(errors="replace")
        assert "Secretname" not in text and "Hostile" not in text, log


@pytest.mark.skipif(not dicomweb_sink_available(), reason="DICOMweb sink not merged yet")
def test_dicom_outputs_retrievable_by_dicomweb(services, delivered):
    from dicomweb_client.api import DICOMwebClient
    from requests.auth import HTTPBasicAuth

    session = requests.Session()
    session.auth = HTTPBasicAuth(services.orthanc.username, services.orthanc.password)
    client = DICOMwebClient(f"{services.orthanc.url}/dicom-web", session=session)
    study_uid = {s["0020000D"]["Value"][0] for s in client.search_for_series()}
    modalities = {}
    for series in client.search_for_series():
        modalities[series["00080060"]["Value"][0]] = series
    assert {"SEG", "SR", "DOC"} <= set(modalities) or {"SEG", "SR", "OT"} <= set(modalities), modalities.keys()
    seg_series = modalities["SEG"]
    seg = client.retrieve_series(seg_series["0020000D"]["Value"][0], seg_series["0020000E"]["Value"][0])[0]
    assert seg.Rows == 512 and seg.Columns == 512
    assert len(study_uid) >= 1


def test_rest_without_credentials_refused(services):
    assert requests.get(f"{services.orthanc.url}/system", timeout=10).status_code == 401
    assert requests.get(f"{services.orthanc.url}/system", auth=("boa", "wrong"), timeout=10).status_code == 401
    assert requests.get(f"{services.orthanc.url}/dicom-web/studies", timeout=10).status_code == 401


def test_unknown_calling_ae_refused(services, pacs, ts_example, tmp_path):
    series_uid = make_series(ts_example / "dicom_series_with_uids", tmp_path, "intruder", count=2)
    statuses = send_series(tmp_path, services.orthanc.dicom_port, calling_aet="INTRUDER")
    assert not statuses or all(s != 0 for s in statuses)
    assert pacs.series_id(series_uid) is None


def test_series_with_few_slices_rejected_with_reason(services, pacs, ts_example, tmp_path):
    series_uid = make_series(ts_example / "dicom_series_with_uids", tmp_path, "few", count=5)
    assert send_series(tmp_path, services.orthanc.dicom_port) == [0] * 5
    series_id = pacs.series_id(series_uid)
    deadline = time.monotonic() + 30
    while series_id not in pacs.store.rejected() and time.monotonic() < deadline:
        pacs.trigger.follow_changes()
        time.sleep(0.5)
    assert pacs.store.rejected()[series_id] == "5 slices, fewer than MIN_SLICES=10"
    assert pacs.store.jobs_for_series(series_id) == []
    assert pacs.trigger.sweep() == 0  # the sweep does not queue it either


def test_trigger_is_idempotent_across_cursor_loss(services, pacs, delivered):
    jobs_before = len(pacs.store.jobs())
    pacs.store.set_value("orthanc_change_cursor", "0")  # as after losing the cursor
    pacs.trigger.follow_changes()
    pacs.trigger.sweep()
    assert len(pacs.store.jobs()) == jobs_before


def test_pickle_message_refused(services, worker, pacs, tmp_path):
    """A pickled task message is refused by the worker and never unpickled."""
    import pickle

    from kombu import Connection, Exchange, Producer

    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    body = pickle.dumps(((), {"job_key": "pickled", "series_id": "x", "payload": Exploit()}, {}))
    headers = {"lang": "py", "task": "boa.analyze_series", "id": "pickled-job", "root_id": "pickled-job",
               "parent_id": None, "group": None, "retries": 0, "eta": None, "expires": None}
    with Connection(pacs.settings.broker_url) as conn:
        producer = Producer(conn.channel(), exchange=Exchange(pacs.settings.queue, type="direct"))
        producer.publish(body, routing_key=pacs.settings.queue, headers=headers,
                         content_type="application/x-python-serialize", content_encoding="binary")
    log = services.root / "worker.log"
    deadline = time.monotonic() + 30
    while "pickle" not in log.read_text(errors="replace").lower() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert "refusing to deserialize untrusted content of type pickle" in log.read_text(errors="replace").lower()
    assert not marker.exists()
    assert pacs.store.job("pickled") is None
