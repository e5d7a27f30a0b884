"""Noise and CNR against the eroded, fat-free back muscles, computed here independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.measure.cnr import adjusted_cnr, reference_region
from tests.measure.conftest import read_json

IDS = {name: label for label, name in class_map["total"].items()}
HU = 0.05 + 1e-9  # HU are reported to 0.1 (report/rounding.py)
RATIO = 0.005 + 1e-9  # CNR to 0.01


def independent_reference(ct: np.ndarray, seg: np.ndarray) -> tuple[float, float]:
    muscle = np.isin(seg, [IDS["autochthon_left"], IDS["autochthon_right"]])
    fat = (ct >= -200) & (ct <= -40)
    roi = ndimage.binary_erosion(muscle & ~fat, structure=ndimage.generate_binary_structure(3, 1))
    values = ct[roi].astype(np.float64)
    return values.mean(), values.std()


def test_noise_and_every_cnr(analyzed, ct_and_total):
    ct, seg, _ = ct_and_total
    mean, noise = independent_reference(ct, seg)
    block = read_json(analyzed / "cnr.json")
    assert block["noise_hu"] == pytest.approx(noise, abs=HU)
    assert block["reference_mean_hu"] == pytest.approx(mean, abs=HU)
    assert block["reason"] is None
    measured = read_json(analyzed / "structure-measurements.json")["total"]
    for name, entry in measured.items():
        if entry["present"]:
            expected = (ct[seg == IDS[name]].mean() - mean) / noise
            assert entry["cnr"] == pytest.approx(expected, abs=RATIO), name
        else:
            assert entry["cnr"] is None


def test_adjusted_block(analyzed, ct_and_total):
    ct, seg, _ = ct_and_total
    mean, noise = independent_reference(ct, seg)
    adjusted = read_json(analyzed / "cnr.json")["adjusted"]
    assert set(adjusted) == {"aorta", "autochthon_left", "autochthon_right", "autochthon_both", "pulmonary_artery"}
    aorta = ndimage.binary_erosion(seg == IDS["aorta"])
    assert adjusted["aorta"]["hu_mean"] == pytest.approx(ct[aorta].mean(), abs=HU)
    assert adjusted["aorta"]["cnr"] == pytest.approx((ct[aorta].mean() - mean) / noise, abs=RATIO)
    assert adjusted["autochthon_both"]["hu_mean"] == pytest.approx(mean, abs=HU)
    assert adjusted["pulmonary_artery"]["cnr"] is None
    assert "heartchambers_highres" in adjusted["pulmonary_artery"]["reason"]
    manifest = read_json(analyzed / "manifest.json")
    assert any("heartchambers_highres" in w for w in manifest["warnings"])


def test_without_total_or_back_muscles_cnr_is_absent_with_a_reason(ct_and_total):
    ct, seg, affine = ct_and_total
    no_model = reference_region(ct, {})
    assert no_model.noise_hu is None and "'total' model did not run" in no_model.reason
    assert no_model.cnr(40.0) is None
    cut = np.where(np.isin(seg, [IDS["autochthon_left"], IDS["autochthon_right"]]), 0, seg)
    total = LabelMap(cut, affine, class_map["total"], "total")
    no_muscle = reference_region(ct, {"total": total})
    assert no_muscle.noise_hu is None and "autochthonous" in no_muscle.reason
    rows, warnings = adjusted_cnr(ct, {"total": total}, no_muscle)
    assert rows["aorta"]["hu_mean"] is not None and rows["aorta"]["cnr"] is None
    assert rows["autochthon_left"]["reason"] == "structure not present"
    assert len(warnings) == 1  # heartchambers_highres did not run


def test_run_without_back_muscles_writes_null_cnr(ts_example, tmp_path, ct_and_total):
    import nibabel as nib

    from body_organ_analysis.cli import main

    ct, seg, affine = ct_and_total
    cut = np.where(np.isin(seg, [IDS["autochthon_left"], IDS["autochthon_right"]]), 0, seg).astype(np.uint8)
    nib.save(nib.Nifti1Image(cut, affine), str(tmp_path / "total.nii.gz"))
    out = tmp_path / "out"
    code = main(["-i", str(ts_example / "ct_small.nii.gz"), "-o", str(out), "--segmentation",
                 f"total={tmp_path / 'total.nii.gz'}", "--skip-contrast-information"])  # fmt: skip
    assert code == 0
    assert read_json(out / "cnr.json")["reason"].startswith("the autochthonous")
    assert all(e["cnr"] is None for e in read_json(out / "structure-measurements.json")["total"].values())
    contrast = read_json(out / "contrast.json")
    assert contrast["phase"] is None and "skipped" in contrast["reason"]
