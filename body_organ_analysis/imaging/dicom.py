"""DICOM input: a folder (searched recursively) or a zip of DICOM files.

Headers of every file are read, grouped into series, one series is chosen
(series.py), its geometry checked (geometry.py) and its size checked before
any pixel is decoded. Pixels are decoded by pydicom with whichever decoder is
installed (GDCM, pylibjpeg/OpenJPEG/libjpeg/RLE: JPEG 2000, JPEG-LS, JPEG
lossless and baseline, RLE, deflate), rescaled to Hounsfield units per slice,
a gantry tilt resampled, and the grid turned to LAS, the orientation
dicom2nifti and TotalSegmentator give DICOM input, so their label maps lie on
it as they are.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from body_organ_analysis.errors import ExitCode, InputError
from body_organ_analysis.imaging.archive import extract_zip
from body_organ_analysis.imaging.checks import (
    as_hounsfield,
    capital,
    check_dimensions,
    check_size,
    check_spacing,
    check_volume,
)
from body_organ_analysis.imaging.geometry import StackGeometry, stack_geometry, to_las
from body_organ_analysis.imaging.metadata import dicom_metadata, patient_values
from body_organ_analysis.imaging.series import Stack, choose_stack, group_stacks
from body_organ_analysis.imaging.slices import FolderScan, SliceRef, scan_folder
from body_organ_analysis.imaging.volume import CTVolume

log = logging.getLogger("body_organ_analysis")

AIR_HU = -1024.0  # fills voxels that a gantry-tilt resampling brings in from outside the image


def load_dicom_folder(path: Path, series_uid: str | None = None) -> CTVolume:
    return _load_folder(Path(path), series_uid, "dicom", Path(path).name, f"the DICOM folder {Path(path).name}")


def load_dicom_zip(path: Path, series_uid: str | None = None) -> CTVolume:
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="boa-zip-") as folder:
        extract_zip(path, Path(folder))
        return _load_folder(Path(folder), series_uid, "zip", path.name, f"the zip file {path.name}")


def _load_folder(
    folder: Path, series_uid: str | None, source: str, source_name: str, where: str
) -> CTVolume:
    scan = scan_folder(folder)
    _check_found(scan, where)
    if scan.unreadable:
        log.warning("%d DICOM file(s) in the input could not be read and were skipped", len(scan.unreadable))
    stack = choose_stack(group_stacks(scan.slices), series_uid, where)
    try:
        volume = load_stack(stack, where, source, source_name)
    except InputError as error:
        if scan.unreadable and error.exit_code == ExitCode.BAD_GEOMETRY:
            raise InputError(
                f"{len(scan.unreadable)} DICOM file(s) in {where} are truncated or damaged (e.g. "
                f"{scan.unreadable[0]}), and the series read without them is incomplete: {error}",
                ExitCode.INPUT_UNREADABLE,
            ) from None
        raise
    if scan.unreadable:
        volume.notes.append(f"{len(scan.unreadable)} truncated or damaged DICOM file(s) skipped")
    return volume


def _check_found(scan: FolderScan, where: str) -> None:
    if scan.slices:
        return
    if scan.files_seen == 0:
        raise InputError(
            f"{capital(where)} is empty. Give the folder (or zip) that holds the CT's DICOM files.",
            ExitCode.INPUT_NOT_FOUND,
        )
    if scan.unreadable:
        raise InputError(
            f"{capital(where)} holds {len(scan.unreadable)} DICOM file(s), none of which can be read "
            f"(e.g. {scan.unreadable[0]}: truncated or damaged). Export the series again.",
            ExitCode.INPUT_UNREADABLE,
        )
    raise InputError(
        f"{capital(where)} holds {scan.files_seen} file(s) but no DICOM image ({scan.not_dicom} not "
        f"DICOM, {scan.no_image} DICOM without pixel data). Give the folder of the CT's "
        "DICOM images.",
        ExitCode.INPUT_NOT_FOUND,
    )


def load_stack(stack: Stack, where: str, source: str, source_name: str) -> CTVolume:
    """Check, decode and assemble one stack into a CT volume on the LAS grid."""
    first = stack.first
    if stack.modality != "CT":
        raise InputError(
            f"The series in {where} has modality {stack.modality or '(none)'}, not CT. "
            "Give a CT series (or pick one with --series-uid).",
            ExitCode.NOT_CT,
        )
    if int(first.header.get("SamplesPerPixel") or 1) != 1:
        raise InputError(
            f"The images in {where} are colour images; a CT holds one value per pixel. "
            "Give the original CT series, not screenshots.",
            ExitCode.NOT_CT,
        )
    shape = (first.columns, first.rows, len(stack.slices))
    check_size(shape, where)
    check_dimensions(shape, where)
    geometry = stack_geometry(stack.slices, where)
    check_spacing(np.sqrt((geometry.affine[:3, :3] ** 2).sum(axis=0)), where)
    _check_rescale(geometry.slices, where)
    data = _decode(geometry.slices, shape, where)
    notes = []
    if geometry.tilt_degrees:
        _resample_tilt(data, geometry)
        notes.append(
            f"gantry tilt of {geometry.tilt_degrees:.2f} degrees resampled onto a rectangular "
            "grid (linear interpolation, air outside the field of view)"
        )
        log.info("gantry tilt of %.2f degrees resampled", geometry.tilt_degrees)
    data, affine = to_las(as_hounsfield(data), geometry.affine)
    volume = CTVolume(
        data=data,
        affine=affine,
        source=source,
        source_name=source_name,
        metadata=dicom_metadata(first.header, affine, data.shape),
        patient=patient_values(first.header),
        notes=notes,
    )
    return check_volume(volume, where)


def _check_rescale(slices: list[SliceRef], where: str) -> None:
    """Hounsfield units = stored value x RescaleSlope + RescaleIntercept: a zero slope erases the image."""
    bad = [ref for ref in slices if not (np.isfinite(ref.slope) and ref.slope != 0 and np.isfinite(ref.intercept))]
    if bad:
        raise InputError(
            f"{len(bad)} image(s) of {where} (e.g. {bad[0].path.name}) have a RescaleSlope of "
            f"{bad[0].slope:g} or an unreadable RescaleIntercept, so their pixels cannot be turned into "
            "Hounsfield units (a slope of 0 maps every pixel to one value). The headers are damaged; "
            "export the series again.",
            ExitCode.INPUT_UNREADABLE,
        )


def _decode(slices: list[SliceRef], shape: tuple[int, int, int], where: str) -> np.ndarray:
    """Hounsfield values of every slice, as float32 (column, row, slice)."""
    data = np.empty(shape, dtype=np.float32)
    decoded: dict[Path, np.ndarray] = {}
    for index, ref in enumerate(slices):
        pixels = decoded.get(ref.path)
        if pixels is None:
            pixels = _read_pixels(ref, where)
            if ref.frames_in_file > 1:
                decoded = {ref.path: pixels}  # frames of a file are usually neighbours
        image = pixels if ref.frame is None else pixels[ref.frame]
        if image.shape != (ref.rows, ref.columns):
            raise _unreadable(ref, where, f"pixel data of shape {image.shape}")
        data[:, :, index] = (image.astype(np.float64) * ref.slope + ref.intercept).T
    return data


def read_pixels(path: Path) -> np.ndarray:
    """The stored pixel values of a DICOM file, decoded (no rescale): (rows, columns) or (frames, ...)."""
    with warnings.catch_warnings():  # damage is reported by the exception, not by warnings
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(str(path), force=True)  # force: old files without preamble
        dataset.ensure_file_meta()
        if "TransferSyntaxUID" not in dataset.file_meta:  # a bare dataset: its encoding tells
            implicit, little = dataset.original_encoding
            dataset.file_meta.TransferSyntaxUID = (
                ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
            )
        return dataset.pixel_array


def _read_pixels(ref: SliceRef, where: str) -> np.ndarray:
    try:
        pixels = read_pixels(ref.path)
    except Exception as error:  # decoders raise many kinds on damaged or unsupported data
        syntax = getattr(getattr(ref.header, "file_meta", None), "TransferSyntaxUID", None)
        detail = f"{type(error).__name__}"
        if syntax is not None:
            detail += f", transfer syntax {getattr(syntax, 'name', syntax)}"
        raise _unreadable(ref, where, detail) from None
    expected = (ref.frames_in_file, ref.rows, ref.columns) if ref.frames_in_file > 1 else (ref.rows, ref.columns)
    if pixels.shape != expected:
        raise _unreadable(ref, where, f"pixel data of shape {pixels.shape}, header says {expected}")
    return pixels


def _unreadable(ref: SliceRef, where: str, detail: str) -> InputError:
    return InputError(
        f"The pixel data of {ref.path.name} in {where} cannot be decoded ({detail}). The file is "
        "truncated or damaged, or its compression is not supported (JPEG 2000, JPEG-LS, JPEG, "
        "RLE and deflate are). Export the series again, uncompressed if need be.",
        ExitCode.INPUT_UNREADABLE,
    )


def _resample_tilt(data: np.ndarray, geometry: StackGeometry) -> None:
    """Shift each slice along its columns onto the untilted grid, in place."""
    from scipy.ndimage import shift

    row_spacing = geometry.slices[0].pixel_spacing[0]  # type: ignore[index]
    for index, offset_mm in enumerate(geometry.shifts_mm):
        if abs(offset_mm) > 1e-6:
            data[:, :, index] = shift(
                data[:, :, index], (0.0, offset_mm / row_spacing), order=1, mode="constant", cval=AIR_HU
            )
