"""Radiomics features (optional extra) against numpy, and the message when it is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.errors import UsageError
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.measure.radiomics import radiomics_features

IDS = {name: label for label, name in class_map["total"].items()}


def test_first_order_and_volume_match_numpy(ct_and_total):
    pytest.importorskip("radiomics")
    ct, seg, affine = ct_and_total
    keep = [IDS["spleen"], IDS["aorta"]]
    small = np.where(np.isin(seg, keep), seg, 0).astype(np.uint8)
    features = radiomics_features(ct, affine, {"total": LabelMap(small, affine, class_map["total"], "total")})
    assert set(features["total"]) == {"spleen", "aorta"}
    for name in ("spleen", "aorta"):
        values = ct[seg == IDS[name]].astype(np.float64)
        entry = features["total"][name]
        assert entry["firstorder_Mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert entry["firstorder_Median"] == pytest.approx(np.median(values), rel=1e-9)
        assert entry["shape_VoxelVolume"] == pytest.approx(values.size * 27.0, rel=1e-9)
        assert "glcm_Contrast" in entry and not any(k.startswith("diagnostics") for k in entry)


def test_missing_pyradiomics_is_a_clear_error_before_any_work(monkeypatch, ts_example, tmp_path, capsys):
    from body_organ_analysis.cli import main

    monkeypatch.setitem(sys.modules, "radiomics", None)
    with pytest.raises(UsageError, match="pyradiomics"):
        radiomics_features(np.zeros((2, 2, 2)), np.eye(4), {})
    out = tmp_path / "out"
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-r",
                 "--segmentation", f"total={ts_example / 'seg_total.nii.gz'}"])  # fmt: skip
    assert code == 2
    assert "body-organ-analysis[radiomics]" in capsys.readouterr().err.replace("\n", " ")
    assert not out.exists()


def test_radiomics_json_from_the_command_line(ts_example, tmp_path, ct_and_total):
    pytest.importorskip("radiomics")
    import nibabel as nib

    from body_organ_analysis.cli import main
    from tests.measure.conftest import read_json

    _, seg, affine = ct_and_total
    small = np.where(seg == IDS["aorta"], seg, 0).astype(np.uint8)
    nib.save(nib.Nifti1Image(small, affine), str(tmp_path / "total.nii.gz"))
    out = tmp_path / "out"
    assert main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "-r", "--skip-contrast-information",
                 "--segmentation", f"total={tmp_path / 'total.nii.gz'}"]) == 0  # fmt: skip
    features = read_json(out / "radiomics.json")
    assert list(features["total"]) == ["aorta"]
    mean = read_json(out / "structure-measurements.json")["total"]["aorta"]["hu_mean"]
    assert features["total"]["aorta"]["firstorder_Mean"] == pytest.approx(mean, abs=0.05 + 1e-9)  # HU to 0.1
    assert features["provenance"]["stand_in"] is False
