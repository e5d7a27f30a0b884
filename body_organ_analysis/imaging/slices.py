"""Finding DICOM images in a folder and reading what each slice says about itself.

Only headers are read here (``stop_before_pixels``); pixels are decoded later,
for the chosen series only. An enhanced (multi-frame) CT file becomes one
:class:`SliceRef` per frame, with the frame's own position and rescale.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from body_organ_analysis.imaging.checks import check_size

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"


@dataclass
class SliceRef:
    """One 2-D image of a DICOM file (a whole file, or one frame of a multi-frame file)."""

    path: Path
    frame: int | None  # index into a multi-frame file, None for single-frame
    header: Dataset  # the file's header without pixel data (shared by a file's frames)
    rows: int
    columns: int
    frames_in_file: int
    position: np.ndarray | None  # ImagePositionPatient (LPS mm) or None
    orientation: np.ndarray | None  # ImageOrientationPatient, 6 values, or None
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) mm
    slope: float = 1.0
    intercept: float = 0.0

    def text(self, keyword: str) -> str:
        value = self.header.get(keyword)
        return "" if value is None else str(value).strip()

    @property
    def image_type(self) -> tuple[str, ...]:
        value = self.header.get("ImageType") or ()
        if isinstance(value, str):
            value = value.split("\\")
        return tuple(str(v).strip().upper() for v in value)


@dataclass
class FolderScan:
    """What a folder holds: image slices, and how many files were passed over and why."""

    slices: list[SliceRef] = field(default_factory=list)
    files_seen: int = 0
    not_dicom: int = 0
    no_image: int = 0  # DICOM objects without pixels (reports, SR, DICOMDIR ...)
    unreadable: list[str] = field(default_factory=list)  # DICOM files whose header is broken


def scan_folder(folder: Path) -> FolderScan:
    """Read the header of every file under ``folder`` (recursively, in a stable order)."""
    scan = FolderScan()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            scan.files_seen += 1
            _read_file(path, scan)
    return scan


def _read_file(path: Path, scan: FolderScan) -> None:
    with open(path, "rb") as handle:
        lead = handle.read(132)
    preamble = lead[128:132] == b"DICM"
    bare = not preamble and lead[:2] in (b"\x02\x00", b"\x08\x00")  # old exports: no preamble
    if not (preamble or bare):
        scan.not_dicom += 1
        return
    try:
        with open(path, "rb") as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # damage shows in what is read, not in warnings
            header = pydicom.dcmread(handle, stop_before_pixels=True, force=bare)
            remaining = path.stat().st_size - handle.tell()  # the pixel data, if any, is left
    except Exception:  # pydicom raises many kinds on broken files
        if preamble:
            scan.unreadable.append(path.name)
        else:
            scan.not_dicom += 1
        return
    if "Rows" not in header or "Columns" not in header:
        scan.no_image += 1
        return
    frames = header.get("NumberOfFrames") or 1
    try:
        check_size((int(header.Rows), int(header.Columns), int(frames)), path.name)
        if remaining < _least_pixel_bytes(header, int(frames)):
            scan.unreadable.append(path.name)  # truncated: the pixel data is missing or short
            return
        scan.slices.extend(slices_of(path, header))
    except (ValueError, TypeError, IndexError, AttributeError, KeyError):
        scan.unreadable.append(path.name)


def _least_pixel_bytes(header: Dataset, frames: int) -> int:
    """Bytes the pixel data element needs at least: all of it when uncompressed."""
    meta = getattr(header, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is not None and syntax.is_encapsulated:
        return 16  # element header and an item; short fragments fail when decoded
    bits = int(header.get("BitsAllocated") or 8)
    samples = int(header.get("SamplesPerPixel") or 1)
    return 8 + (int(header.Rows) * int(header.Columns) * frames * samples * bits + 7) // 8


def slices_of(path: Path, header: Dataset) -> list[SliceRef]:
    frames = int(header.get("NumberOfFrames") or 1)
    common: dict[str, Any] = dict(
        path=path, header=header, rows=int(header.Rows), columns=int(header.Columns),
        frames_in_file=frames,
    )  # fmt: skip
    if "PerFrameFunctionalGroupsSequence" not in header:
        return [
            SliceRef(
                frame=None if frames == 1 else index,
                position=_floats(header.get("ImagePositionPatient"), 3) if frames == 1 else None,
                orientation=_floats(header.get("ImageOrientationPatient"), 6),
                pixel_spacing=_spacing(header.get("PixelSpacing")),
                slope=_number(header.get("RescaleSlope"), 1.0),
                intercept=_number(header.get("RescaleIntercept"), 0.0),
                **common,
            )
            for index in range(frames)
        ]
    shared = _first(header.get("SharedFunctionalGroupsSequence"))
    per_frame = header.PerFrameFunctionalGroupsSequence
    refs = []
    for index in range(frames):
        groups = per_frame[index] if index < len(per_frame) else Dataset()
        plane = _functional(groups, shared, "PlanePositionSequence")
        orient = _functional(groups, shared, "PlaneOrientationSequence")
        measures = _functional(groups, shared, "PixelMeasuresSequence")
        rescale = _functional(groups, shared, "PixelValueTransformationSequence")
        refs.append(
            SliceRef(
                frame=index,
                position=_floats(plane.get("ImagePositionPatient"), 3),
                orientation=_floats(orient.get("ImageOrientationPatient"), 6),
                pixel_spacing=_spacing(measures.get("PixelSpacing")),
                slope=_number(rescale.get("RescaleSlope", header.get("RescaleSlope")), 1.0),
                intercept=_number(rescale.get("RescaleIntercept", header.get("RescaleIntercept")), 0.0),
                **common,
            )
        )
    return refs


def _number(value: Any, default: float) -> float:
    """A numeric header value; ``default`` only where it is absent or empty (0 stays 0)."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")  # unreadable: refused by the loader


def _functional(groups: Dataset, shared: Dataset, keyword: str) -> Dataset:
    """The item of a functional group macro: per-frame first, then shared."""
    return _first(groups.get(keyword)) if keyword in groups else _first(shared.get(keyword))


def _first(sequence: Any) -> Dataset:
    return sequence[0] if sequence else Dataset()


def _floats(value: Any, count: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        numbers = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return numbers if numbers.shape == (count,) and np.isfinite(numbers).all() else None


def _spacing(value: Any) -> tuple[float, float] | None:
    numbers = _floats(value, 2)
    if numbers is None or (numbers <= 0).any():
        return None
    return float(numbers[0]), float(numbers[1])
