"""End to end through the command line: DICOM in, image.nii.gz and total.nii.gz on one grid."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.cli import main

SEG = "seg_total_dicom_series.nii.gz"


def zipped(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.iterdir()):
            bundle.write(path, path.name)
    return archive


@pytest.mark.parametrize("source", ["dicom_series", "dicom_series_with_uids", "zip"])
def test_cli_writes_image_and_labels_on_one_grid(source, ts_example, tmp_path, capsys):
    if source == "zip":
        given = zipped(ts_example / "dicom_series_with_uids", tmp_path / "series.zip")
    else:
        given = ts_example / source
    out = tmp_path / "out"
    code = main(["-i", str(given), "-o", str(out), "--segmentation", f"total={ts_example / SEG}"])
    assert code == 0, capsys.readouterr().err
    image = nib.load(out / "image.nii.gz")
    labels = nib.load(out / "total.nii.gz")
    reference = nib.load(ts_example / SEG)
    assert image.shape == labels.shape == reference.shape
    assert np.allclose(image.affine, labels.affine, atol=1e-6)
    assert np.allclose(image.affine, reference.affine, atol=1e-5)
    assert np.array_equal(np.asarray(labels.dataobj), np.asarray(reference.dataobj))
    assert image.get_data_dtype() == np.int16
    hu = np.asarray(image.dataobj)
    assert hu.min() == -1024 and 1000 < hu.max() < 3000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"]["type"] == ("zip" if source == "zip" else "dicom")
    assert manifest["input"]["shape"] == [512, 512, 20]
    assert "TSEXAMPLE01" not in (out / "manifest.json").read_text()
