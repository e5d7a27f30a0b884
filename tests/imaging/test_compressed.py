"""Compressed DICOM decodes to the same values as an independent decode.

Twins are the files pydicom and pydicom-data ship (read from the installed
package folders: pydicom.data.get_testdata_files would try to download).
Whole compressed CT series are encoded by GDCM and loaded through load_ct.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from body_organ_analysis.imaging import load_ct
from body_organ_analysis.imaging.dicom import read_pixels
from body_organ_analysis.demo.dicom_series import GDCM_SYNTAXES, phantom, write_ct_series

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DATA_STORE = Path(pytest.importorskip("data_store").__file__).parent / "data"

TWINS = [  # (compressed, uncompressed twin)
    (PYDICOM_FILES / "MR_small_RLE.dcm", PYDICOM_FILES / "MR_small.dcm"),
    (PYDICOM_FILES / "MR_small_jp2klossless.dcm", PYDICOM_FILES / "MR_small.dcm"),
    (PYDICOM_FILES / "MR_small_jpeg_ls_lossless.dcm", PYDICOM_FILES / "MR_small.dcm"),
    (DATA_STORE / "emri_small_RLE.dcm", DATA_STORE / "emri_small.dcm"),  # multi-frame
    (DATA_STORE / "emri_small_jpeg_2k_lossless.dcm", DATA_STORE / "emri_small.dcm"),
    (DATA_STORE / "emri_small_jpeg_ls_lossless.dcm", DATA_STORE / "emri_small.dcm"),
    (DATA_STORE / "693_J2KR.dcm", DATA_STORE / "693_UNCR.dcm"),
    (DATA_STORE / "MR2_J2KR.dcm", DATA_STORE / "MR2_UNCR.dcm"),
]


@pytest.mark.parametrize("compressed,plain", TWINS, ids=[c.name for c, _ in TWINS])
def test_compressed_file_equals_its_uncompressed_twin(compressed, plain):
    assert pydicom.dcmread(compressed, stop_before_pixels=True).file_meta.TransferSyntaxUID.is_compressed
    decoded = read_pixels(compressed)
    assert np.array_equal(decoded, read_pixels(plain))
    assert decoded.std() > 0


@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"])
def test_jpeg_lossless_equals_gdcm_decode(name):
    """JPEG lossless (process 14) has no twin: compare with GDCM inside SimpleITK."""
    path = DATA_STORE / name
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    ours = read_pixels(path) * slope + intercept
    assert np.array_equal(ours.reshape(expected.shape), expected)


@pytest.fixture(scope="module")
def plain_series(tmp_path_factory):
    hu = phantom(12, 40, 36, marker=(4, 9, 20))
    folder = tmp_path_factory.mktemp("plain")
    write_ct_series(folder, hu)
    return hu, load_ct(folder)


@pytest.mark.parametrize("syntax", sorted(GDCM_SYNTAXES))
def test_compressed_ct_series_loads_like_uncompressed(syntax, plain_series, tmp_path):
    hu, plain = plain_series
    paths = write_ct_series(tmp_path, hu, transfer_syntax=syntax)
    assert pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID.is_compressed
    ct = load_ct(tmp_path)
    assert ct.data.dtype == np.int16
    assert np.array_equal(ct.data, plain.data)
    assert np.array_equal(ct.affine, plain.affine)
    # and against the phantom itself: LAS of (slice, row, column) = flip rows, transpose
    assert np.array_equal(ct.data, hu.transpose(2, 1, 0)[:, ::-1, :])


def test_rescale_slope_gives_float_when_not_whole(tmp_path):
    hu = phantom(10, 24, 24).astype(np.float64)
    write_ct_series(tmp_path, hu, slope=0.5, intercept=-1024.25)
    ct = load_ct(tmp_path)
    assert ct.data.dtype == np.float32
    stored = np.rint((hu + 1024.25) / 0.5)
    assert np.allclose(ct.data, (stored * 0.5 - 1024.25).transpose(2, 1, 0)[:, ::-1, :])


def test_rescale_slope_whole_numbers_stay_int16(tmp_path):
    hu = phantom(10, 24, 24)
    write_ct_series(tmp_path, hu, slope=2.0, intercept=-2048)
    ct = load_ct(tmp_path)
    assert ct.data.dtype == np.int16
    expected = np.rint((hu + 2048) / 2.0) * 2 - 2048
    assert np.array_equal(ct.data, expected.transpose(2, 1, 0)[:, ::-1, :])
