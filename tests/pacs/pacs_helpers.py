"""Helpers of the PACS tests: series copies with new UIDs, a C-STORE sender."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from body_organ_analysis.pacs.paths import short_hash
from body_organ_analysis.testing import services as svc

SCANNER_AET = "SCANNER1"


def dicomweb_sink_available() -> bool:
    return importlib.util.find_spec("body_organ_analysis.pacs.sinks.dicomweb") is not None


def make_series(source: Path, target: Path, tag: str, count: int | None = None, **tags: Any) -> str:
    """A copy of the real series with new UIDs (and tags replaced); returns its SeriesInstanceUID."""
    import pydicom
    from pydicom.uid import generate_uid

    target.mkdir(parents=True, exist_ok=True)
    study_uid = generate_uid(entropy_srcs=[tag, "study"])
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
    """Result folders of one series (named ``<SeriesNumber>_<hash of the series UID>``)."""
    return sorted(p.parent for p in root.rglob("manifest.json") if p.parent.name.endswith(short_hash(series_uid)))
