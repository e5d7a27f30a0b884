"""STOW-RS into a real Orthanc (DICOMweb plugin) in a loopback-only network namespace."""

from __future__ import annotations

import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
import pydicom
import pytest
import requests

from body_organ_analysis.pacs.dicom_outputs import DicomOutputSettings
from body_organ_analysis.pacs.sinks.base import Delivery, DeliveryError, RetryableDeliveryError
from body_organ_analysis.pacs.sinks.dicomweb import DicomWebSink
from helpers import services as svc
from tests.pacs_dicom.test_dicom_outputs import round_trip

pytestmark = pytest.mark.services

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[svc.Orthanc]:
    """A fresh Orthanc of its own (ports apart from tests/pacs' one, which may run in the same session)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a private network namespace")
    if not (shutil.which("Orthanc") and Path(DICOMWEB_PLUGIN).exists()):
        pytest.skip("Orthanc with the DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)")
    svc.enter_private_network()
    server = svc.Orthanc(
        tmp_path_factory.mktemp("orthanc"), http_port=8042, dicom_port=4242, aet="BOATEST", modalities={},
        http_compression=False,  # loopback: gzip of a 17 MB SEG only costs time
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def get(orthanc: svc.Orthanc, path: str) -> requests.Response:
    return requests.get(f"{orthanc.url}{path}", auth=(orthanc.username, orthanc.password), timeout=10)


@pytest.fixture(scope="module")
def delivered(orthanc, result_dir: Path, source_datasets, outputs) -> Delivery:
    delivery = Delivery(result_dir, "BOATEST/study/series", source_datasets)
    DicomWebSink(orthanc.dicomweb_url, auth=(orthanc.username, orthanc.password), timeout=60).deliver(delivery)
    return delivery


def qido_series(orthanc, study_uid: str) -> dict[str, dict]:
    response = get(orthanc, f"/dicom-web/studies/{study_uid}/series")
    response.raise_for_status()
    return {item["0020000E"]["Value"][0]: item for item in response.json()}


def retrieve(orthanc, study: str, series: str, instance: str) -> pydicom.Dataset:
    from dicomweb_client.api import DICOMwebClient
    from requests import Session

    session = Session()
    session.auth = (orthanc.username, orthanc.password)
    client = DICOMwebClient(orthanc.dicomweb_url, session=session)
    return client.retrieve_instance(study, series, instance)


def test_outputs_are_stored_as_new_series_of_the_source_study(orthanc, delivered, outputs, source_datasets) -> None:
    study = str(source_datasets[0].StudyInstanceUID)
    series = qido_series(orthanc, study)
    assert set(series) == {str(ds.SeriesInstanceUID) for ds in outputs.values()}
    modalities = sorted(item["00080060"]["Value"][0] for item in series.values())
    assert modalities == ["DOC", "SEG", "SR"]
    assert str(source_datasets[0].SeriesInstanceUID) not in series  # new series, source untouched


def test_retrieved_objects_are_the_built_ones(orthanc, delivered, outputs, result_dir: Path) -> None:
    seg = outputs["SEG"]
    back = retrieve(orthanc, seg.StudyInstanceUID, seg.SeriesInstanceUID, seg.SOPInstanceUID)
    built = round_trip(seg)
    assert back.SegmentSequence == built.SegmentSequence
    assert back.PerFrameFunctionalGroupsSequence == built.PerFrameFunctionalGroupsSequence
    np.testing.assert_array_equal(back.pixel_array, built.pixel_array)
    doc = outputs["DOC"]
    pdf = retrieve(orthanc, doc.StudyInstanceUID, doc.SeriesInstanceUID, doc.SOPInstanceUID)
    assert pdf.EncapsulatedDocument[: pdf.EncapsulatedDocumentLength] == (result_dir / "report.pdf").read_bytes()
    sr = outputs["SR"]
    report = retrieve(orthanc, sr.StudyInstanceUID, sr.SeriesInstanceUID, sr.SOPInstanceUID)
    assert report.ContentSequence == round_trip(sr).ContentSequence


def test_redelivery_replaces_and_does_not_duplicate(orthanc, delivered) -> None:
    before = get(orthanc, "/statistics").json()
    DicomWebSink(orthanc.dicomweb_url, auth=(orthanc.username, orthanc.password)).deliver(delivered)
    after = get(orthanc, "/statistics").json()
    assert (after["CountSeries"], after["CountInstances"]) == (before["CountSeries"], before["CountInstances"]) == (3, 3)


PDF_ONLY = DicomOutputSettings(seg=False, sr=False)


def test_wrong_credentials_are_a_permanent_error(orthanc, delivered) -> None:
    sink = DicomWebSink(orthanc.dicomweb_url, auth=(orthanc.username, "wrong"), settings=PDF_ONLY)
    with pytest.raises(DeliveryError, match="HTTP 401") as caught:
        sink.deliver(delivered)
    assert not isinstance(caught.value, RetryableDeliveryError)


def test_server_down_is_retryable(orthanc, delivered) -> None:
    sink = DicomWebSink("http://127.0.0.1:8043/dicom-web", auth=(orthanc.username, orthanc.password), settings=PDF_ONLY)
    with pytest.raises(RetryableDeliveryError, match="cannot be reached"):
        sink.deliver(delivered)


class _Answer(BaseHTTPRequestHandler):
    """A stand-in DICOMweb server that answers every STOW-RS with a set status and body."""

    status = 503
    body = b""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # small (PDF only): not chunked
        self.send_response(self.status)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


FAILED_SOP = json.dumps({
    "00081198": {"vr": "SQ", "Value": [{
        "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.104.1"]},
        "00081155": {"vr": "UI", "Value": ["1.2.3"]},
        "00081197": {"vr": "US", "Value": [272]},
    }]},
}).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "error", "retryable"),
    [(503, b"", "HTTP 503", True), (429, b"", "HTTP 429", True), (400, b"", "HTTP 400", False),
     (409, FAILED_SOP, "HTTP 409", False), (200, FAILED_SOP, "refused 1 of 1", False)],
)  # fmt: skip
def test_server_answers_map_to_delivery_errors(orthanc, delivered, status, body, error, retryable) -> None:
    handler = type("Handler", (_Answer,), {"status": status, "body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # in the test's loopback namespace
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sink = DicomWebSink(f"http://127.0.0.1:{server.server_port}/dicom-web", settings=PDF_ONLY)
        with pytest.raises(DeliveryError, match=error) as caught:
            sink.deliver(delivered)
        assert isinstance(caught.value, RetryableDeliveryError) is retryable
    finally:
        server.shutdown()
        server.server_close()
