"""Contrast phase: TotalSegmentator's reference prediction, features on the right anatomy."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.measure.contrast import NECK_VESSELS, PHASE_ORGANS, phase_features, predict_phase
from body_organ_analysis.measure.gi_contrast import BOA_CONTRAST_REGIONS, boa_contrast_map, predict_gi_contrast
from body_organ_analysis.measure.structures import structure_statistics
from body_organ_analysis.settings import build_settings
from tests.measure.conftest import read_json

TOTAL = class_map["total"]
IDS = {name: label for label, name in TOTAL.items()}


def test_phase_of_fast_total_matches_totalsegmentators_reference(ts_example, ct_and_total):
    import nibabel as nib

    ct, _, _ = ct_and_total
    fast = np.asanyarray(nib.load(str(ts_example / "seg_total_fast.nii.gz")).dataobj)
    result = predict_phase(structure_statistics(ct, fast, TOTAL, 0.027))
    reference = read_json(ts_example / "phase_prediction.json")
    assert result["phase"] == reference["phase"] == "native"
    assert result["probability"] == reference["probability"]
    assert result["pi_time_s"] == pytest.approx(reference["pi_time"], abs=0.01)
    assert result["pi_time_min_s"] == pytest.approx(reference["pi_time_min"], abs=0.01)
    assert result["pi_time_max_s"] == pytest.approx(reference["pi_time_max"], abs=0.01)


def test_phase_in_the_run_output(analyzed):
    contrast = read_json(analyzed / "contrast.json")
    assert contrast["phase"] == "native" and contrast["reason"] is None
    assert contrast["gi"]["gi_contrast"] is None or contrast["gi"]["reason"] is None


def test_features_come_from_the_named_structures(ct_and_total):
    """Every organ gets its own HU: each feature must be the HU of the organ of that name."""
    _, seg, _ = ct_and_total
    lookup = np.arange(256, dtype=np.int16) * 5 - 200  # label id -> HU, all different
    ct = lookup[seg]
    features = phase_features(structure_statistics(ct, seg, TOTAL, 0.027))
    assert list(features) == [*PHASE_ORGANS, *NECK_VESSELS]
    present = set(np.unique(seg).tolist())
    for name in PHASE_ORGANS:
        expected = float(lookup[IDS[name]]) if IDS[name] in present else 0.0
        assert features[name] == expected, name
    assert features["aorta"] == 52 * 5 - 200  # v2 id of the aorta (v1 had 7)
    assert all(features[name] == 0.0 for name in NECK_VESSELS)


def test_missing_structures_are_reported_not_raised(ct_and_total):
    ct, seg, _ = ct_and_total
    vessels = [IDS[n] for n in ("aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein")]
    no_vessels = np.where(np.isin(seg, vessels), 0, seg)
    result = predict_phase(structure_statistics(ct, no_vessels, TOTAL, 0.027))
    assert result["phase"] is None and "no vessel" in result["reason"]
    assert predict_phase(None)["reason"].startswith("the 'total' model did not run")
    with_brain = np.where(seg == IDS["liver"], IDS["brain"], seg)
    assert "brain" in predict_phase(structure_statistics(ct, with_brain, TOTAL, 0.027))["reason"]


def test_skip_setting_from_the_environment():
    settings = build_settings({"input_image": Path("a.nii.gz"), "output_dir": Path("o")},
                              {"SKIP_CONTRAST_INFORMATION": "true"})  # fmt: skip
    assert settings.skip_contrast_information is True


def test_boa_contrast_regions_use_v2_ids_by_name(ct_and_total):
    _, seg, affine = ct_and_total
    total = LabelMap(seg, affine, TOTAL, "total")
    heart = np.zeros_like(seg)
    heart[5:8, 5:8, 5:8] = 7  # pulmonary_artery in heartchambers_highres
    chambers = LabelMap(heart, affine, class_map["heartchambers_highres"], "heartchambers_highres")
    combined, ids = boa_contrast_map({"total": total, "heartchambers_highres": chambers})
    assert set(ids) == set(BOA_CONTRAST_REGIONS)
    for region, (model, name) in BOA_CONTRAST_REGIONS.items():
        if model == "total":
            assert ids[region] == IDS[name]
            outside = heart == 0
            assert np.array_equal((combined == ids[region])[outside], (seg == IDS[name])[outside])
    assert ids["aorta"] == 52 and ids["portal_vein_and_splenic_vein"] == 64 and ids["colon"] == 20
    assert np.array_equal(combined == ids["pulmonary_artery"], heart == 7)


def test_gi_contrast_without_boa_contrast_says_why(monkeypatch, ct_and_total):
    _, seg, affine = ct_and_total
    monkeypatch.setitem(sys.modules, "boa_contrast", None)  # import fails
    result = predict_gi_contrast(None, {"total": LabelMap(seg, affine, TOTAL, "total")})
    assert result["gi_contrast"] is None and "not installed" in result["reason"]
    assert "pip install" not in result["reason"]  # no step that cannot succeed
    assert "did not run" in predict_gi_contrast(None, {})["reason"]


def test_gi_contrast_hands_boa_contrast_the_right_anatomy(monkeypatch, ct_and_total):
    """A stand-in boa_contrast module checks what the adapter gives the real one."""
    import types

    import nibabel as nib

    ct, seg, affine = ct_and_total
    seen: dict = {}

    def predict(ct_path, folder, one_mask_per_file, total_segmentation_name, label_map):
        total = np.asanyarray(nib.load(str(Path(folder) / total_segmentation_name)).dataobj)
        seen["aorta"] = np.array_equal(total == label_map["aorta"], seg == IDS["aorta"])
        seen["liver"] = np.array_equal(total == label_map["liver"], seg == IDS["liver"])
        seen["ct"] = np.array_equal(np.asanyarray(nib.load(str(ct_path)).dataobj), ct)
        seen["one_mask_per_file"] = one_mask_per_file
        return {"git_ensemble_predicted_class": "NO_CONTRAST_IN_GI_TRACT", "git_ensemble_probas": [0.9, 0.1],
                "phase_ensemble_predicted_class": "NON_CONTRAST", "phase_ensemble_probas": [0.8, 0.1, 0.1]}  # fmt: skip

    fake = types.ModuleType("boa_contrast")
    fake.predict = predict
    fake_ml = types.ModuleType("boa_contrast.ml")
    fake_ml.ContrastRecognition = lambda task: None
    monkeypatch.setitem(sys.modules, "boa_contrast", fake)
    monkeypatch.setitem(sys.modules, "boa_contrast.ml", fake_ml)
    result = predict_gi_contrast(nib.Nifti1Image(ct, affine), {"total": LabelMap(seg, affine, TOTAL, "total")})
    assert seen == {"aorta": True, "liver": True, "ct": True, "one_mask_per_file": False}
    assert result["gi_contrast"] == "NO_CONTRAST_IN_GI_TRACT" and result["gi_probability"] == 0.9
    assert result["iv_phase"] == "NON_CONTRAST" and result["reason"] is None


def test_gi_contrast_with_models_that_do_not_load(monkeypatch, ct_and_total):
    import types

    _, seg, affine = ct_and_total

    def broken(task):
        raise AttributeError("Can't get attribute '__pyx_unpickle_CyHalfBinomialLoss'")

    fake_ml = types.ModuleType("boa_contrast.ml")
    fake_ml.ContrastRecognition = broken
    monkeypatch.setitem(sys.modules, "boa_contrast", types.ModuleType("boa_contrast"))
    monkeypatch.setitem(sys.modules, "boa_contrast.ml", fake_ml)
    result = predict_gi_contrast(None, {"total": LabelMap(seg, affine, TOTAL, "total")})
    assert result["gi_contrast"] is None and "scikit-learn" in result["reason"]


def test_gi_contrast_names_a_missing_dependency_of_boa_contrast(monkeypatch, ct_and_total):
    import builtins

    _, seg, affine = ct_and_total
    real_import = builtins.__import__

    def import_without_cv2(name, *args, **kwargs):
        if name.startswith("boa_contrast"):
            raise ModuleNotFoundError("No module named 'cv2'", name="cv2")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_without_cv2)
    result = predict_gi_contrast(None, {"total": LabelMap(seg, affine, TOTAL, "total")})
    assert "needs 'cv2'" in result["reason"]
