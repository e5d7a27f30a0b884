"""The real data: both DICOM folders, a zip of one, and ct_small.nii.gz."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from body_organ_analysis.imaging import load_ct
from body_organ_analysis.models.registry import get_model
from body_organ_analysis.models.supplied import load_supplied

SEG = "seg_total_dicom_series.nii.gz"


@pytest.fixture(scope="module")
def ct_blank(ts_example: Path):
    return load_ct(ts_example / "dicom_series")


@pytest.fixture(scope="module")
def ct_uids(ts_example: Path):
    return load_ct(ts_example / "dicom_series_with_uids")


def sitk_hu_las(folder: Path) -> np.ndarray:
    """An independent decode (GDCM inside SimpleITK), turned into LAS by its own geometry."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    assert np.allclose(np.reshape(image.GetDirection(), (3, 3)), np.eye(3))  # axial, LPS index axes
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (x, y, z) = L, P, S
    return array[:, ::-1, :]  # P -> A


def test_blank_uid_series_loads_with_the_grid_totalsegmentator_wrote(ct_blank, ts_example):
    seg = nib.load(ts_example / SEG)
    assert ct_blank.shape == seg.shape == (512, 512, 20)
    assert ct_blank.data.dtype == np.int16
    assert nib.aff2axcodes(ct_blank.affine) == ("L", "A", "S")
    assert np.allclose(ct_blank.affine, seg.affine, atol=1e-6)
    assert ct_blank.spacing == pytest.approx((0.9765625, 0.9765625, 2.0))
    assert ct_blank.source == "dicom"


def test_hounsfield_values_equal_simpleitk_decode(ct_blank, ts_example):
    expected = sitk_hu_las(ts_example / "dicom_series")
    assert expected.shape == ct_blank.shape
    assert np.array_equal(expected, ct_blank.data)
    assert ct_blank.data.min() == -1024  # stored 0 with RescaleIntercept -1024


def test_supplied_totalsegmentator_map_places_labels_at_the_same_positions(ct_blank, ts_example):
    seg = nib.load(ts_example / SEG)
    seg_data = np.asarray(seg.dataobj)
    label_map = load_supplied(ts_example / SEG, get_model("total"), ct_blank)
    assert np.array_equal(label_map.data, seg_data)
    for label in np.unique(seg_data)[1:6]:
        mine = ct_blank.affine @ [*np.argwhere(label_map.data == label).mean(axis=0), 1]
        theirs = seg.affine @ [*np.argwhere(seg_data == label).mean(axis=0), 1]
        assert np.allclose(mine, theirs, atol=1e-6)
    # the liver (id 5) holds soft tissue, not air or bone: the labels sit on the right voxels
    liver_hu = float(np.median(ct_blank.data[label_map.data == 5]))
    assert 0 < liver_hu < 200


def test_series_with_uids_equals_blank_one_and_carries_metadata(ct_blank, ct_uids):
    assert np.array_equal(ct_uids.data, ct_blank.data)
    assert np.array_equal(ct_uids.affine, ct_blank.affine)
    meta = ct_uids.metadata
    assert meta["SeriesNumber"] == 2
    assert meta["Modality"] == "CT"
    assert meta["SeriesInstanceUID"].startswith("1.2.826.0.1.3680043.8.498.")
    assert meta["StudyInstanceUID"]
    assert meta["AccessionNumber"] == "ACC0001"
    assert meta["KVP"] == 120.0 and meta["SliceThickness"] == 3.0
    assert meta["CTDIvol"] == pytest.approx(18.5418, abs=1e-3)
    assert meta["ConvolutionKernel"].startswith("Br38f")
    assert meta["PixelSpacing"] == [0.9765625, 0.9765625]
    assert meta["StudyDate"] == "20221208"
    assert meta["scan_length_mm"] == pytest.approx(38.0)  # 20 slices, 2 mm apart
    assert ct_uids.patient["PatientID"] == "TSEXAMPLE01"
    assert ct_uids.patient["PatientWeight"] == 79.0
    assert ct_uids.patient["PatientSize"] is None
    assert not set(ct_uids.patient) & set(meta)
    assert ct_blank.metadata["SeriesInstanceUID"] is None


def test_zip_of_series_loads_like_the_folder(ct_uids, ts_example, tmp_path):
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((ts_example / "dicom_series_with_uids").iterdir()):
            bundle.write(path, f"study/series/{path.name}")
    ct = load_ct(archive)
    assert ct.source == "zip" and ct.source_name == "series.zip"
    assert np.array_equal(ct.data, ct_uids.data)
    assert np.array_equal(ct.affine, ct_uids.affine)


def test_choice_is_logged_without_patient_data(ts_example, caplog):
    with caplog.at_level(logging.INFO, logger="body_organ_analysis"):
        load_ct(ts_example / "dicom_series_with_uids")
    text = caplog.text
    assert "series chosen" in text and "CT Body 3.0" in text
    assert "TSEXAMPLE01" not in text and "Example" not in text and "20221208" not in text


def test_nifti_ct_small(ts_example):
    ct = load_ct(ts_example / "ct_small.nii.gz")
    image = nib.load(ts_example / "ct_small.nii.gz")
    assert ct.shape == (122, 101, 30)
    assert ct.data.dtype == np.int16
    assert np.array_equal(ct.affine, image.affine)
    assert np.array_equal(ct.data, np.asarray(image.dataobj))
    assert ct.metadata["scan_length_mm"] == pytest.approx(87.0)
    assert ct.metadata["Modality"] is None
    assert ct.patient and all(v is None for v in ct.patient.values())
