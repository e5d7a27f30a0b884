"""A cohort of 23 cases made from the example CT: copies, flips, crops, thick slices, a broken file, an MR-like
volume, a duplicate and the example DICOM series.

Every case supplies ``total`` through the manifest, so no weights are needed.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ANALYSIS = ["-m", "total+bca", "--bca-engine", "threshold", "--bca-no-pdf", "--offline"]


def reoriented(image: nib.Nifti1Image, axcodes: tuple[str, str, str]) -> nib.Nifti1Image:
    start = nib.orientations.io_orientation(image.affine)
    return image.as_reoriented(nib.orientations.ornt_transform(start, nib.orientations.axcodes2ornt(axcodes)))


def make_cohort(ts_example: Path, folder: Path) -> Path:
    """Writes the cases and ``manifest.csv``; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    ct_path, seg_path = ts_example / "ct_small.nii.gz", ts_example / "seg_total.nii.gz"
    ct, seg = nib.load(str(ct_path)), nib.load(str(seg_path))
    rows = []

    def add(case: str, ct_image, seg_image, height: str = "", weight: str = "") -> None:
        ct_file, seg_file = folder / f"{case}.nii.gz", folder / f"{case}_seg.nii.gz"
        if isinstance(ct_image, Path):
            shutil.copy(ct_image, ct_file)
        else:
            nib.save(ct_image, str(ct_file))
        if isinstance(seg_image, Path):
            shutil.copy(seg_image, seg_file)
        else:
            nib.save(seg_image, str(seg_file))
        rows.append({"case_id": case, "input": ct_file.name, "segmentation:total": seg_file.name, "height_cm": height,
                     "weight_kg": weight})

    for number in range(1, 11):  # the same voxels, a different header text: not duplicates
        copy = nib.Nifti1Image(np.asarray(ct.dataobj), ct.affine, ct.header.copy())
        copy.header["descrip"] = f"copy {number}".encode()
        add(f"copy{number:02d}", copy, seg_path, height=str(150 + 3 * number) if number % 2 else "",
            weight=str(50 + 2 * number) if number % 2 else "")
    for axcodes in (("L", "P", "S"), ("R", "A", "I"), ("S", "L", "P"), ("A", "R", "S")):
        name = "flip_" + "".join(axcodes).lower()
        add(name, reoriented(ct, axcodes), reoriented(seg, axcodes))
    for low, high in ((0, 20), (8, 30), (4, 26)):
        add(f"crop_{low}_{high}", ct.slicer[:, :, low:high], seg.slicer[:, :, low:high])
    add("crop_xy", ct.slicer[10:110, 5:95, :], seg.slicer[10:110, 5:95, :])
    add("thick", ct.slicer[:, :, ::2], seg.slicer[:, :, ::2])  # 6 mm slices
    # broken: the first half of the gzip stream
    data = ct_path.read_bytes()
    add("broken", ct_path, seg_path)
    (folder / "broken.nii.gz").write_bytes(data[: len(data) // 2])
    # MR-like: the same anatomy as normalised intensities 0..1 (no air, no fat in HU)
    values = np.asarray(ct.dataobj, dtype=np.float32)
    mr = (values - values.min()) / (values.max() - values.min())
    add("mr_like", nib.Nifti1Image(mr, ct.affine), seg_path)
    # duplicate: the bytes of copy01 under another name
    add("duplicate", folder / "copy01.nii.gz", folder / "copy01_seg.nii.gz", height="153")
    # a DICOM series (20 slices, JPEG 2000) with its reference label map, read where it lies
    rows.append({"case_id": "dicom", "input": str(ts_example / "dicom_series"),
                 "segmentation:total": str(ts_example / "seg_total_dicom_series.nii.gz"), "height_cm": "", "weight_kg": ""})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["case_id", "input", "segmentation:total", "height_cm", "weight_kg"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


@pytest.fixture(scope="session")
def cohort_manifest(ts_example: Path, tmp_path_factory) -> Path:
    return make_cohort(ts_example, tmp_path_factory.mktemp("cohort-inputs"))


def gz_is_truncated(path: Path) -> bool:
    try:
        gzip.decompress(path.read_bytes())
    except (EOFError, OSError):
        return True
    return False
