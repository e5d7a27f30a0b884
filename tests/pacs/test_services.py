"""The PACS chain with real Orthanc, RabbitMQ, PostgreSQL, Samba and a real Celery worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from pacs_helpers import (
    dicomweb_series_by_modality, dicomweb_sink_available, make_series, result_dirs, send_series, study_uid_for,
)

pytestmark = pytest.mark.services

HOSTILE_NAME = "Secretname^Hostile"
HOSTILE = {
    "PatientName": HOSTILE_NAME,
    "AccessionNumber": "../../../../ev1",  # valid VRs: every sink, DICOMweb included, must accept them
    "SeriesNumber": "2",
    "SeriesDescription": "../../../etc/passwd",
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
    assert len(relative.parts) == 3 and relative.parts[1] == "20221208_ev1"  # sanitised, inside
    files = {p.name for p in dirs[0].iterdir()}
    assert {"total.nii.gz", "total.labels.json", "manifest.json", "image.nii.gz", "report.pdf",
            "structure-measurements.json", "bca-measurements.json"} <= files
    manifest = json.loads((dirs[0] / "manifest.json").read_text())
    assert manifest["input"]["shape"][2] == 20
    smb_dir = services.samba.share_dir / "boa" / relative
    smb = sorted(p.name for p in smb_dir.iterdir())
    expected_smb = sorted(f for f in files if f.endswith((".xlsx", ".pdf", ".png")) or f == "manifest.json")
    assert smb == expected_smb and "report.pdf" in smb
    assert (smb_dir / "report.pdf").read_bytes() == (dirs[0] / "report.pdf").read_bytes()
    assert (smb_dir / "manifest.json").read_bytes() == (dirs[0] / "manifest.json").read_bytes()


def test_nothing_escapes_the_output_root(services, delivered):
    assert not Path("/ev1").exists()
    for base in (services.root / "results", services.samba.share_dir):
        for path in base.rglob("*"):
            assert path.resolve().is_relative_to(base.resolve())
            assert "Secretname" not in str(path) and ".." not in path.parts


def test_job_row_in_postgresql(services, delivered):
    import psycopg2

    job = delivered["job"]
    assert job["attempts"] == 1 and job["models"] == "total+body_regions+body_parts" and job["instances"] == 20
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
def test_dicom_outputs_retrievable_by_dicomweb(services, delivered, pacs):
    """One SEG per label map, one SR and one Encapsulated PDF in the source study, retrievable and valid."""
    import nibabel as nib
    import numpy as np
    from dicomweb_client.api import DICOMwebClient
    from pydicom.uid import EncapsulatedPDFStorage

    result = result_dirs(services.root / "results", delivered["series_uid"])[0]
    # the worker runs total+bca (threshold engine): both measurement files and the report, every job
    for name in ("structure-measurements.json", "bca-measurements.json", "report.pdf"):
        assert (result / name).is_file(), name
    label_maps = sorted(p.name[: -len(".labels.json")] for p in result.glob("*.labels.json")
                        if (result / p.name.replace(".labels.json", ".nii.gz")).is_file())
    assert "total" in label_maps and len(label_maps) >= 2, label_maps  # total and the body-composition maps
    session = requests.Session()
    session.auth = (services.orthanc.username, services.orthanc.password)
    client = DICOMwebClient(f"{services.orthanc.url}/dicom-web", session=session)
    source = study_uid_for("e2e")
    by_modality = dicomweb_series_by_modality(services.orthanc, source)
    # the source CT itself was deleted after delivery; the PDF is written with Modality DOC
    assert set(by_modality) == {"SEG", "SR", "DOC"}, by_modality
    assert len(by_modality["SR"]) == 1 and len(by_modality["DOC"]) == 1, by_modality  # no duplicates
    assert len(by_modality["SEG"]) == len(label_maps), (by_modality, label_maps)  # one SEG series per label map

    # SEG (WADO-RS): one instance per series, each pixel-aligned with its label map in the folder
    segs = {}
    for seg_series in by_modality["SEG"]:
        instances = client.retrieve_series(source, seg_series)
        assert len(instances) == 1
        seg = instances[0]
        model = seg.SeriesDescription.removeprefix("BOA ").removesuffix(" segmentation")
        assert model in label_maps and model not in segs, seg.SeriesDescription
        segs[model] = seg
        assert (seg.Rows, seg.Columns) == (512, 512)
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == delivered["series_uid"]
        # voxels per segment in the SEG equal those of the label map delivered to the folder
        labels = json.loads((result / f"{model}.labels.json").read_text())["labels"]
        label_map = np.asarray(nib.load(result / f"{model}.nii.gz").dataobj)
        names = {item.SegmentNumber: item.SegmentLabel for item in seg.SegmentSequence}
        frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
        counts: dict[str, int] = {}
        for frame, group in zip(frames, seg.PerFrameFunctionalGroupsSequence):
            name = names[group.SegmentIdentificationSequence[0].ReferencedSegmentNumber]
            counts[name] = counts.get(name, 0) + int(frame.sum())
        assert counts, model
        for name, count in counts.items():
            label = int(next(k for k, v in labels.items() if v == name))
            assert count == int((label_map == label).sum()), (model, name)
    assert len(segs["total"].SegmentSequence) >= 5

    # SR (WADO-RS): a TID 1500 measurement report that references the SEG segments
    instances = client.retrieve_series(source, by_modality["SR"][0])
    assert len(instances) == 1
    sr = instances[0]
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    seg_instances = {seg.SOPInstanceUID for seg in segs.values()}
    referenced = set()

    def walk(items):
        for item in items:
            for ref in item.get("ReferencedSOPSequence", []):
                referenced.add(ref.ReferencedSOPInstanceUID)
            walk(item.get("ContentSequence", []))

    walk(sr.ContentSequence)
    assert segs["total"].SOPInstanceUID in referenced  # organ measurements point at their segments
    assert referenced & seg_instances <= seg_instances
    evidence = {
        ref.ReferencedSOPInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    assert segs["total"].SOPInstanceUID in evidence

    # Encapsulated PDF (WADO-RS): the very report delivered to the folder
    instances = client.retrieve_series(source, by_modality["DOC"][0])
    assert len(instances) == 1
    doc = instances[0]
    assert doc.SOPClassUID == EncapsulatedPDFStorage and doc.MIMETypeOfEncapsulatedDocument == "application/pdf"
    pdf = (result / "report.pdf").read_bytes()
    assert doc.EncapsulatedDocument[: int(doc.EncapsulatedDocumentLength)] == pdf
    assert doc.EncapsulatedDocument.startswith(b"%PDF-")

    # our outputs stored back become stable series too: never a job, recorded as our own
    for uid in by_modality["SEG"] + by_modality["SR"] + by_modality["DOC"]:
        series_id = pacs.series_id(uid)
        deadline = time.monotonic() + 30
        while series_id not in pacs.store.rejected() and time.monotonic() < deadline:
            pacs.trigger.follow_changes()
            time.sleep(0.5)
        assert pacs.store.rejected()[series_id] == "our own output stored back", uid
        assert pacs.store.jobs_for_series(series_id) == []


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
