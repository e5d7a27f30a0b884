"""NIfTI input (.nii, .nii.gz).

The header is checked first (dimensions, size, data type, geometry, file
length) so a damaged header never allocates memory; then the voxels are read
with the header's scaling applied. The grid is the file's own: label maps are
written on it, so no image.nii.gz is needed for NIfTI input.
"""

from __future__ import annotations

import gzip
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nibabel as nib
import numpy as np

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.checks import (
    as_hounsfield,
    capital,
    check_dimensions,
    check_direction,
    check_size,
    check_spacing,
    check_volume,
)
from body_organ_analysis.imaging.metadata import nifti_metadata, patient_values
from body_organ_analysis.imaging.volume import CTVolume


def load_nifti(path: Path) -> CTVolume:
    what = f"the NIfTI file {path.name}"
    image = _open(path, what)
    shape = tuple(int(s) for s in image.header.get_data_shape())
    check_size(shape, what)
    while len(shape) > 3 and shape[-1] == 1:  # a 4-D file with one volume is a 3-D volume
        shape = shape[:-1]
    check_dimensions(shape, what)
    dtype = image.header.get_data_dtype()
    if dtype.fields is not None or dtype.kind not in "iuf":
        raise InputError(
            f"{capital(what)} holds {dtype} voxels (e.g. colour or complex); a CT holds one number per "
            "voxel in Hounsfield units.",
            ExitCode.NOT_CT,
        )
    stored = _stored_pixdim(path, image)
    if stored is not None:  # nibabel quietly turns a zero pixdim into 1 mm: look at the file's own
        check_spacing(stored, what)
    check_direction(image.affine, what)
    _check_length(path, image, what)
    try:
        data = np.asanyarray(image.dataobj).reshape(shape)
    except Exception as error:  # truncated gzip, short file: nibabel raises many kinds
        raise _unreadable(path, error) from None
    volume = CTVolume(
        data=as_hounsfield(data),
        affine=image.affine.copy(),
        source="nifti",
        source_name=path.name,
        metadata=nifti_metadata(shape, image.affine),
        patient=patient_values(None),
    )
    return check_volume(volume, what)


def _open(path: Path, what: str) -> nib.Nifti1Image:
    try:
        with _quiet_nibabel():  # the header fixes it reports (a zero pixdim) are checked here
            image = nib.load(str(path))
    except Exception as error:  # nibabel raises many kinds for broken files
        raise _unreadable(path, error) from None
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(
            f"{capital(what)} is not a NIfTI image. Give a .nii or .nii.gz file.",
            ExitCode.INPUT_UNREADABLE,
        )
    return image


@contextmanager
def _quiet_nibabel() -> Iterator[None]:
    logger = logging.getLogger("nibabel.global")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _stored_pixdim(path: Path, image: nib.Nifti1Image) -> np.ndarray | None:
    """The voxel spacing as the file stores it, where the affine is built from it (no sform)."""
    if int(image.header["sform_code"]) > 0:
        return None
    with nib.openers.ImageOpener(str(path)) as handle:
        raw = type(image.header).from_fileobj(handle, check=False)
    return np.abs(np.asarray(raw["pixdim"][1:4], dtype=np.float64))


def _check_length(path: Path, image: nib.Nifti1Image, what: str) -> None:
    """An uncompressed file must hold every voxel its header announces."""
    if path.name.lower().endswith(".gz"):
        return  # a short gzip stream fails while reading, caught there
    header = image.header
    needed = int(header.get_data_offset()) + int(
        np.prod(header.get_data_shape(), dtype=np.int64)
    ) * header.get_data_dtype().itemsize
    if path.stat().st_size < needed:
        raise InputError(
            f"{capital(what)} is truncated: its header announces {needed:,} bytes, the file has "
            f"{path.stat().st_size:,}. Copy or export the CT again.",
            ExitCode.INPUT_UNREADABLE,
        )


def _unreadable(path: Path, error: Exception) -> InputError:
    kind = "truncated" if isinstance(error, EOFError | gzip.BadGzipFile) else "damaged"
    return InputError(
        f"The NIfTI file {path.name} cannot be read ({type(error).__name__}); it is probably "
        f"{kind} or not NIfTI at all. Copy or export the CT again.",
        ExitCode.INPUT_UNREADABLE,
    )
