"""Uploaded files, stored in the run's work folder under generic names.

The user's file names are never kept (they often carry patient names or IDs):
a NIfTI becomes ``ct.nii.gz`` (or ``ct.nii``), a zip ``ct.zip``, loose DICOM
files ``dicom/000000.dcm`` ..., a supplied label map ``<model>.nii.gz``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from body_organ_analysis.errors import UsageError


class Uploaded(Protocol):  # what Streamlit's UploadedFile offers
    name: str

    def getbuffer(self) -> memoryview: ...


def kind_of(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".nii.gz"):
        return "nii.gz"
    if lower.endswith(".nii"):
        return "nii"
    if lower.endswith(".zip"):
        return "zip"
    return "dicom"


def save_ct(files: Sequence[Uploaded], work: Path) -> Path:
    """The path to hand to ``analyze()`` as ``input_image``."""
    if not files:
        raise UsageError("No CT was uploaded. Upload a NIfTI file, a zip of DICOM files or the DICOM files themselves.")
    kinds = {kind_of(f.name) for f in files}
    if len(files) > 1 and kinds != {"dicom"}:
        raise UsageError("Upload one NIfTI file, one zip, or several DICOM files, not a mixture of them.")
    kind = kinds.pop()
    if kind == "dicom":
        folder = work / "dicom"
        folder.mkdir(parents=True, exist_ok=True)
        for number, upload in enumerate(files):
            (folder / f"{number:06d}.dcm").write_bytes(upload.getbuffer())
        return folder
    target = work / f"ct.{kind}"
    target.write_bytes(files[0].getbuffer())
    return target


def save_label_map(upload: Uploaded, work: Path, model: str) -> Path:
    if kind_of(upload.name) not in ("nii", "nii.gz"):
        raise UsageError(f"The label map for {model} must be a NIfTI file (.nii or .nii.gz).")
    target = work / "supplied" / f"{model}.{kind_of(upload.name)}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(upload.getbuffer())
    return target
