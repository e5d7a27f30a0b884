"""Writing small but complete CT DICOM series for tests: any geometry, any transfer syntax.

The files are real DICOM (CT Image Storage, file meta, patient/study/series
modules); compressed ones are encoded by GDCM, an encoder independent of the
decoders the loader uses. :func:`phantom` draws a body-like cylinder with a
bright marker at a known position in space, so tests can check where voxels end up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

GDCM_SYNTAXES = {
    "rle": "RLELossless",
    "jpeg2000": "JPEG2000Lossless",
    "jpegls": "JPEGLSLossless",
    "jpeg-lossless": "JPEGLosslessProcess14_1",
}
MARKER_HU = 1500


def phantom(slices: int, rows: int, columns: int, marker: tuple[int, int, int] | None = None) -> np.ndarray:
    """HU array (slice, row, column): air, a fat-rimmed water cylinder, a bone rod, a marker voxel."""
    r, c = np.mgrid[0:rows, 0:columns]
    radius = np.hypot((r - rows / 2) / (rows / 2), (c - columns / 2) / (columns / 2))
    plane = np.full((rows, columns), -1000, dtype=np.int16)
    plane[radius < 0.9] = -100
    plane[radius < 0.75] = 40
    plane[np.hypot(r - rows * 0.7, c - columns / 2) < rows * 0.08] = 700
    volume = np.repeat(plane[None], slices, axis=0)
    volume += (np.arange(slices, dtype=np.int16) % 7)[:, None, None]  # slices differ
    if marker is not None:
        volume[marker] = MARKER_HU
    return volume


def write_ct_series(
    folder: Path,
    hu: np.ndarray,
    *,
    pixel_spacing: tuple[float, float] = (0.8, 0.8),
    slice_spacing: float = 2.0,
    origin: Sequence[float] = (-30.0, -40.0, 100.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    positions: Sequence[Sequence[float]] | None = None,
    transfer_syntax: str = "explicit",
    intercept: float = -1024.0,
    slope: float = 1.0,
    series_uid: str | None = "auto",
    study_uid: str | None = "auto",
    attributes: dict[str, Any] | None = None,
    prefix: str = "IM",
) -> list[Path]:
    """Write ``hu`` (slice, row, column) as one series; return the file paths.

    Slice k lies at ``origin + k * slice_spacing * normal`` unless ``positions``
    gives each slice's ImagePositionPatient (LPS mm). ``attributes`` override
    or add header values (e.g. Modality, ImageType, PatientName).
    """
    folder.mkdir(parents=True, exist_ok=True)
    orientation = np.asarray(orientation, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    if positions is None:
        positions = [np.asarray(origin, float) + k * slice_spacing * normal for k in range(len(hu))]
    series_uid = generate_uid() if series_uid == "auto" else series_uid
    study_uid = generate_uid() if study_uid == "auto" else study_uid
    stored = np.rint((np.asarray(hu, dtype=np.float64) - intercept) / slope)
    signed = bool(stored.min() < 0)
    stored = stored.astype(np.int16 if signed else np.uint16)
    paths = []
    for index, (image, position) in enumerate(zip(stored, positions)):
        ds = _slice_dataset(image, position, orientation, pixel_spacing, signed, intercept, slope)
        ds.SeriesInstanceUID = series_uid or ""
        ds.StudyInstanceUID = study_uid or ""
        ds.InstanceNumber = index + 1
        for keyword, value in (attributes or {}).items():
            setattr(ds, keyword, value)
        path = folder / f"{prefix}{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        if transfer_syntax != "explicit":
            compress_with_gdcm(path, transfer_syntax)
        paths.append(path)
    return paths


def _slice_dataset(
    image: np.ndarray,
    position: Sequence[float],
    orientation: np.ndarray,
    pixel_spacing: tuple[float, float],
    signed: bool,
    intercept: float,
    slope: float,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYN0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.PatientAge = "055Y"
    ds.PatientSize = "1.75"
    ds.PatientWeight = "70"
    ds.StudyDate = "20240102"
    ds.AccessionNumber = "ACCSYN"
    ds.SeriesNumber = 1
    ds.SeriesDescription = "synthetic axial"
    ds.Manufacturer = "synthetic"
    ds.KVP = "120"
    ds.SliceThickness = "2"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
    ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = image.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = int(signed)
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleSlope = f"{slope:g}"
    ds.PixelData = np.ascontiguousarray(image).tobytes()
    return ds


def compress_with_gdcm(path: Path, syntax: str) -> None:
    """Re-encode ``path`` in place with GDCM (``syntax``: a key of GDCM_SYNTAXES)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise RuntimeError(f"GDCM cannot read {path}")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, GDCM_SYNTAXES[syntax])))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"GDCM cannot encode {path} as {syntax}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise RuntimeError(f"GDCM cannot write {path}")


def write_enhanced_ct(
    path: Path,
    hu: np.ndarray,
    *,
    pixel_spacing: tuple[float, float] = (0.8, 0.8),
    slice_spacing: float = 2.0,
    origin: Sequence[float] = (-30.0, -40.0, 100.0),
    intercept: float = -1024.0,
) -> Path:
    """Write ``hu`` (slice, row, column) as one enhanced (multi-frame) axial CT file."""
    stored = np.rint(np.asarray(hu, dtype=np.float64) - intercept).astype(np.uint16)
    ds = _slice_dataset(stored[0], origin, np.array([1.0, 0, 0, 0, 1, 0]), pixel_spacing, False, intercept, 1.0)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.SeriesInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                    "RescaleIntercept", "RescaleSlope"):  # fmt: skip
        delattr(ds, keyword)
    shared = Dataset()
    shared.PlaneOrientationSequence = [Dataset()]
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PixelMeasuresSequence = [Dataset()]
    shared.PixelMeasuresSequence[0].PixelSpacing = list(pixel_spacing)
    shared.PixelMeasuresSequence[0].SliceThickness = slice_spacing
    shared.PixelValueTransformationSequence = [Dataset()]
    shared.PixelValueTransformationSequence[0].RescaleIntercept = intercept
    shared.PixelValueTransformationSequence[0].RescaleSlope = 1
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for k in range(len(stored)):
        frame = Dataset()
        frame.PlanePositionSequence = [Dataset()]
        frame.PlanePositionSequence[0].ImagePositionPatient = [
            float(origin[0]), float(origin[1]), float(origin[2]) + k * slice_spacing
        ]
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.NumberOfFrames = len(stored)
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
