"""Loading a CT from NIfTI, a DICOM folder or a zip of DICOM files, checked."""

from __future__ import annotations

from pathlib import Path

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.volume import CTVolume

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def load_ct(path: Path, series_uid: str | None = None) -> CTVolume:
    """Load and check the CT at ``path``; raise :class:`InputError` with a clear message."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"The input {path} does not exist. Give a NIfTI file, a DICOM folder or a zip "
            "of DICOM files with -i/--input-image.",
            ExitCode.INPUT_NOT_FOUND,
        )
    if path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES):
        from body_organ_analysis.imaging.nifti import load_nifti

        return load_nifti(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        from body_organ_analysis.imaging.dicom import load_dicom_zip

        return load_dicom_zip(path, series_uid)
    if path.is_dir():
        from body_organ_analysis.imaging.dicom import load_dicom_folder

        return load_dicom_folder(path, series_uid)
    raise InputError(
        f"The input {path.name} is neither a NIfTI file (.nii, .nii.gz), a zip of DICOM files "
        "nor a folder. Give one of those with -i/--input-image.",
        ExitCode.INPUT_UNREADABLE,
    )
