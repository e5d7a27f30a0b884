"""Helpers of the PACS tests: series copies with new UIDs, a C-STORE sender."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import json
from helpers import services as svc

SCANNER_AET = "SCANNER1"


def dicomweb_sink_available() -> bool:
    return importlib.util.find_spec("body_organ_analysis.pacs.sinks.dicomweb") is not None


def make_series(source: Path, target: Path, tag: str, count: int | None = None, **tags: Any) -> str:
    """A copy of the real series with new UIDs (and tags replaced); returns its SeriesInstanceUID."""
    import pydicom
    from pydicom.uid import generate_uid

    target.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid_for(tag)
    series_uid = generate_uid(entropy_srcs=[tag, "series"])
    for i, path in enumerate(sorted(source.iterdir())[:count]):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[tag, str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for keyword, value in tags.items():
            setattr(ds, keyword, value)
        ds.save_as(target / f"{i:03d}.dcm")
    return series_uid


def send_series(folder: Path, port: int, calling_aet: str = SCANNER_AET, called_aet: str = "BOA_ORTHANC") -> list[int]:
    """C-STORE every file (pynetdicom, proposing the files' own transfer syntax); returns the statuses."""
    import pydicom
    from pynetdicom import AE

    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    ae = AE(ae_title=calling_aet)
    for syntax in {str(d.file_meta.TransferSyntaxUID) for d in datasets}:
        ae.add_requested_context(datasets[0].SOPClassUID, [syntax])
    assoc = ae.associate(svc.HOST, port, ae_title=called_aet)
    if not assoc.is_established:
        return []
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def result_dirs(root: Path, series_uid: str) -> list[Path]:
    """Result folders of one series: those whose manifest names the series (folder names are keyed hashes)."""
    return sorted(p.parent for p in root.rglob("manifest.json")
                  if json.loads(p.read_text())["input"].get("series_instance_uid") == series_uid)


def study_uid_for(tag: str) -> str:
    """The StudyInstanceUID that :func:`make_series` gives the copies made with ``tag``."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[tag, "study"])


def dicomweb_series_by_modality(orthanc: Any, study_uid: str) -> dict[str, list[str]]:
    """Series UIDs per modality in one study, found through Orthanc's DICOMweb (QIDO-RS)."""
    import requests

    answer = requests.get(f"{orthanc.url}/dicom-web/studies/{study_uid}/series",
                          auth=(orthanc.username, orthanc.password), timeout=30)
    answer.raise_for_status()
    found: dict[str, list[str]] = {}
    for series in answer.json():
        found.setdefault(series["00080060"]["Value"][0], []).append(series["0020000E"]["Value"][0])
    return found
