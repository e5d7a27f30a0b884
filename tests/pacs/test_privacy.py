"""PHI canaries through the whole PACS path with the real services.

Three studies carry unique canary strings in every identifying tag (patient name
and ID, accession number, birth/study/series/acquisition dates, institution,
referring physician, study ID, study and series descriptions): one delivered at
once, one retried (SMB down on its first attempt), one failing in the analysis.
Afterwards every log line (worker, trigger, Orthanc, RabbitMQ, PostgreSQL, Samba),
every database row, every file and folder name and every file's content on the
folder and SMB sinks, and the work folder are searched. Canaries may appear only
inside the DICOM outputs, in the patient and study modules the standard makes
them copy from the source, and in the workbook's info sheet (accession number,
study date, descriptions: a document for the clinicians; never names, IDs or
birth dates). The table of places and hits is printed and written to
``<pytest basetemp>/canary-table.md``.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from pacs_helpers import dicomweb_series_by_modality, dicomweb_sink_available, make_series, send_series, study_uid_for

pytestmark = pytest.mark.services

CANARY_TAGS = {
    "PatientName": "Qzfamilycanary^Qzgivencanary",
    "PatientID": "QZPID90417",
    "OtherPatientIDs": "QZOTHERPID5",
    "PatientBirthDate": "19230417",
    "AccessionNumber": "QZACC31337",
    "StudyDate": "19470203",
    "SeriesDate": "19470204",
    "AcquisitionDate": "19470205",
    "ContentDate": "19470206",
    "InstitutionName": "Qzinstitutioncanary Hospital",
    "ReferringPhysicianName": "Qzreferrercanary^Doc",
    "StudyID": "QZSTUDYID7",
    "StudyDescription": "Qzstudydesccanary abdomen",
    "SeriesDescription": "Qzseriesdesccanary venous",
}
CANARIES = (
    "Qzfamilycanary", "Qzgivencanary", "QZPID90417", "QZOTHERPID5", "19230417", "QZACC31337", "19470203",
    "19470204", "19470205", "19470206", "Qzinstitutioncanary", "Qzreferrercanary", "QZSTUDYID7",
    "1947-02-03", "03.02.1947",  # the study date as a report might print it
    "Qzstudydesccanary", "Qzseriesdesccanary",
)
# where the DICOM outputs may carry them: the Patient and General Study modules copied from the source
ALLOWED_IN_DICOM = {
    "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "AccessionNumber", "StudyDate",
    "ReferringPhysicianName", "StudyID", "StudyDescription",
}
# the workbook's info sheet shows the study's accession number, date and series description
# (body_organ_analysis/measure/info.py): a document for the clinicians, never a name, ID or birth date
ALLOWED_IN_WORKBOOK: set[str] = set()  # the study block shows the study year only
NOT_HU = {"RescaleIntercept": "5000"}  # pixel values far from Hounsfield units: the analysis refuses the series


def hits(text: str) -> list[str]:
    low = text.lower()
    return [c for c in CANARIES if c.lower() in low]


def file_text(path: Path) -> str:
    """What a reader of the file would see: text, workbook cells, PDF text and raw bytes, NIfTI header."""
    data = path.read_bytes()
    parts = [data.decode("latin-1")]
    if path.suffix in (".xlsx", ".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts += [zf.read(name).decode("utf-8", "replace") for name in zf.namelist()]
    elif path.name.endswith(".gz"):
        with gzip.open(io.BytesIO(data)) as handle:
            parts.append(handle.read(1 << 16).decode("latin-1"))  # header and extensions
    elif path.suffix == ".pdf":  # the page content streams, inflated (text is drawn as "(...) Tj" there)
        parts += [_inflate(stream) for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S)]
    return "\n".join(parts)


def _inflate(stream: bytes) -> str:
    """A PDF stream decoded (FlateDecode, optionally after ASCII85Decode, as reportlab writes them)."""
    for decode in (lambda b: b, lambda b: base64.a85decode(b.strip().removesuffix(b"~>"), adobe=False)):
        try:
            return zlib.decompress(decode(stream)).decode("latin-1")
        except (zlib.error, ValueError):
            continue
    return ""


@pytest.fixture(scope="module")
def canary_jobs(services, worker, pacs, ts_example, tmp_path_factory):
    """The delivered, the retried and the failing canary study; returns their job rows."""
    source = ts_example / "dicom_series_with_uids"
    jobs = {}

    def send(tag: str, **extra: str) -> tuple[str, str]:
        folder = tmp_path_factory.mktemp(tag)
        series_uid = make_series(source, folder, tag, **CANARY_TAGS, **extra)
        assert send_series(folder, services.orthanc.dicom_port) == [0] * 20
        return pacs.queue_when_stable(series_uid), series_uid

    key, uid = send("canary-ok")
    jobs["delivered"] = (pacs.wait_for(key, ("delivered", "failed", "partially_delivered", "refused")), uid)
    key, uid = send("canary-fail", **NOT_HU)
    jobs["failing"] = (pacs.wait_for(key, ("delivered", "failed", "partially_delivered", "refused")), uid)
    services.samba.stop()
    try:
        key, uid = send("canary-retry")
        first = pacs.wait_for(key, ("queued",), timeout_s=180, condition=lambda j: j["attempts"] >= 1)
    finally:
        services.samba.start()
    jobs["retried"] = (pacs.wait_for(key, ("delivered", "failed", "partially_delivered", "refused")), uid)
    jobs["retried-first-attempt"] = (first, uid)
    time.sleep(2)  # the last log lines of the worker and the trigger
    return jobs


def test_canary_jobs_ended_as_planned(canary_jobs):
    delivered, failing, retried = (canary_jobs[k][0] for k in ("delivered", "failing", "retried"))
    assert delivered["state"] == "delivered" and delivered["attempts"] == 1, delivered["reason"]
    assert failing["state"] == "failed" and failing["reason"].startswith("analysis: "), failing["reason"]
    first = canary_jobs["retried-first-attempt"][0]
    assert "smb" in first["reason"] and not first["sinks"]["smb"]["ok"]
    assert retried["state"] == "delivered" and retried["attempts"] == 2, retried["reason"]


def _dicom_hits(ds, where: str, found: dict[str, list[str]]) -> None:
    for element in ds.iterall():
        if element.VR == "SQ" or element.VR in ("OB", "OW", "UN"):
            continue
        canaries = hits(str(element.value))
        if canaries:
            found.setdefault(element.keyword or str(element.tag), []).extend(f"{where}:{c}" for c in canaries)


def test_no_canary_outside_the_dicom_outputs(services, pacs, canary_jobs, tmp_path_factory):
    import psycopg2

    table: list[tuple[str, int, int, str]] = []  # place, items searched, hits, hit detail

    def record(place: str, items: list[tuple[str, str]], allowed=lambda name, canary: False) -> None:
        found = [(name, c) for name, text in items for c in hits(text)]
        kept = [(n, c) for n, c in found if allowed(n, c)]
        other = [(n, c) for n, c in found if not allowed(n, c)]
        table.append((place, len(items), len(other), ", ".join(sorted({f"{n}: {c}" for n, c in other}))))
        if kept:
            table.append((f"{place}: workbook info sheet (allowed)", len(items), len(kept),
                          ", ".join(sorted({f"{n}: {c}" for n, c in kept}))))

    root = services.root
    logs = {
        "worker log": [root / "worker.log"],
        "trigger log": [root / "trigger.log"],
        "Orthanc log": [root / "orthanc" / "orthanc.log"],
        "RabbitMQ logs": [root / "rabbitmq" / "server.log", *sorted((root / "rabbitmq" / "log").rglob("*"))],
        "PostgreSQL log": [root / "postgres" / "postgres.log"],
        "Samba logs": [root / "samba" / "smbd.out", *sorted((root / "samba" / "log").rglob("*"))],
    }
    for place, files in logs.items():
        files = [f for f in files if f.is_file()]
        assert files, place
        lines = [(f"{f.name}:{n}", line) for f in files
                 for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)]
        record(f"{place} (lines)", lines)

    secrets = (services.orthanc.password, services.rabbitmq.password, services.postgres.password,
               services.samba.password)
    log_text = "\n".join(f.read_text(errors="replace") for files in logs.values() for f in files if f.is_file())
    leaked_secrets = [s for s in secrets if s in log_text]
    table.append(("every log above: the four service passwords", len(secrets), len(leaked_secrets),
                  ", ".join("password of service %d" % secrets.index(s) for s in leaked_secrets)))

    with psycopg2.connect(**services.postgres.params()) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r[0] for r in cur.fetchall()]
        rows = []
        for name in tables:
            cur.execute(f'SELECT row_to_json(t)::text FROM "{name}" t')
            rows += [(name, r[0]) for r in cur.fetchall()]
    assert {"jobs", "rejected_series", "trigger_state", "schema_version"} <= set(tables)
    record(f"database rows ({len(tables)} tables)", rows)

    sinks = {"folder sink": root / "results", "SMB share": services.samba.share_dir}
    for place, base in sinks.items():
        paths = sorted(base.rglob("*"))
        record(f"{place}: file and folder names", [(str(p.relative_to(base)), str(p.relative_to(base))) for p in paths])
        record(f"{place}: file contents", [(p.name, file_text(p)) for p in paths if p.is_file()],
               allowed=lambda name, canary: name.endswith(".xlsx") and canary in ALLOWED_IN_WORKBOOK)

    work = [p for p in (root / "work").rglob("*")]
    record("work folder: names and contents",
           [(str(p), str(p) + (file_text(p) if p.is_file() else "")) for p in work])
    assert work == [], work  # nothing left behind, whatever the outcome

    stored = [(k, json.dumps(j[0], default=str)) for k, j in canary_jobs.items()]
    record("job rows as the store returns them", stored)

    dicom_found: dict[str, list[str]] = {}
    if dicomweb_sink_available():
        import requests
        from dicomweb_client.api import DICOMwebClient

        session = requests.Session()
        session.auth = (services.orthanc.username, services.orthanc.password)
        client = DICOMwebClient(f"{services.orthanc.url}/dicom-web", session=session)
        objects = 0
        for tag in ("canary-ok", "canary-retry"):
            study = study_uid_for(tag)
            by_modality = dicomweb_series_by_modality(services.orthanc, study)
            assert set(by_modality) == {"SEG", "SR", "DOC"}, by_modality  # the CT source was deleted
            for modality, series in by_modality.items():
                for uid in series:
                    for ds in client.retrieve_series(study, uid):
                        objects += 1
                        _dicom_hits(ds, modality, dicom_found)
        allowed = {k: v for k, v in dicom_found.items() if k in ALLOWED_IN_DICOM}
        table.append((f"DICOM outputs ({objects} objects), patient/study modules (allowed)", objects,
                      sum(len(v) for v in allowed.values()), ", ".join(sorted(allowed))))
        other = {k: v for k, v in dicom_found.items() if k not in ALLOWED_IN_DICOM}
        table.append(("DICOM outputs, any other attribute", objects, sum(len(v) for v in other.values()),
                      ", ".join(sorted(other))))

    lines = ["| place searched | items | canary hits | where |", "| --- | --- | --- | --- |"]
    lines += [f"| {place} | {items} | {count} | {detail} |" for place, items, count, detail in table]
    report = "\n".join(lines)
    (tmp_path_factory.getbasetemp() / "canary-table.md").write_text(report + "\n")
    print("\n" + report)
    leaks = [row for row in table if row[2] and "(allowed)" not in row[0]]
    assert leaks == [], report
    if dicomweb_sink_available():  # the outputs do carry the patient module: the canaries reached them
        assert {"PatientName", "PatientID", "AccessionNumber"} <= set(dicom_found), dicom_found
    # the search does look inside files: it found the canaries inside the DICOM outputs above
