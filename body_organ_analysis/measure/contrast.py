"""Intravenous contrast phase from the ``total`` label map and the CT.

The predictor is TotalSegmentator's own contrast-phase model (an ensemble of
five XGBoost regressors shipped in the installed ``totalsegmentator`` package,
``resources/contrast_phase_classifiers_*.pkl``; Wasserthal et al., Radiology:
AI 2023). It predicts the time since injection (pi_time, s) from the median HU
of 16 structures of ``total`` plus 4 neck vessels; TotalSegmentator maps the
time to a phase. Features are read by label NAME from this run's ``total`` map
(TotalSegmentator v2 ids), never by a fixed id.

TotalSegmentator computes the features on its 3 mm grid; here they are the
medians of the structure statistics on the CT's own grid. Absent structures
count 0 HU, as in TotalSegmentator. The neck-vessel features need
TotalSegmentator's ``headneck_bones_vessels`` model whenever the brain is in
the scan (more than 0.1 mL); without it the phase is not predicted.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

import numpy as np

PHASE_ORGANS = (
    "liver", "pancreas", "urinary_bladder", "gallbladder", "heart", "aorta", "inferior_vena_cava",
    "portal_vein_and_splenic_vein", "iliac_vena_left", "iliac_vena_right", "iliac_artery_left",
    "iliac_artery_right", "pulmonary_vein", "brain", "colon", "small_bowel",
)  # fmt: skip
NECK_VESSELS = (
    "internal_carotid_artery_right", "internal_carotid_artery_left",
    "internal_jugular_vein_right", "internal_jugular_vein_left",
)  # fmt: skip
VESSELS = ("aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein", "pulmonary_vein",
           "iliac_artery_left", "iliac_artery_right", "iliac_vena_left", "iliac_vena_right")  # fmt: skip
BRAIN_LIMIT_ML = 0.1  # TotalSegmentator: "brain volume > 100" mm^3
CLASSIFIER_RESOURCE = "resources/contrast_phase_classifiers_2024_07_19.pkl"


def not_predicted(reason: str) -> dict[str, Any]:
    return {"phase": None, "probability": None, "pi_time_s": None, "reason": reason,
            "predictor": "TotalSegmentator contrast phase model"}  # fmt: skip


def phase_features(total_structures: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Median HU of each feature structure (0 when absent), in the predictor's order."""
    features: dict[str, float] = {}
    for name in PHASE_ORGANS:
        entry = total_structures.get(name)
        features[name] = float(entry["hu_median"]) if entry and entry["present"] else 0.0
    for name in NECK_VESSELS:
        features[name] = 0.0
    return features


# TotalSegmentator's mapping from post-injection time to phase (totalseg_get_phase.py,
# whose module imports torch): (time below which it applies (s), phase, confidence);
# tests/measure/test_lazy_imports.py checks it against TotalSegmentator's function.
PI_TIME_PHASES = (
    (5, "native", 1.0), (10, "native", 0.7), (20, "arterial_early", 0.7), (30, "arterial_early", 1.0),
    (50, "arterial_late", 1.0), (60, "arterial_late", 0.7), (90, "portal_venous", 1.0),
    (100, "portal_venous", 0.7), (float("inf"), "portal_venous", 0.3),
)  # fmt: skip


def pi_time_to_phase(pi_time: float) -> tuple[str, float]:
    """TotalSegmentator's mapping from post-injection time (s) to phase and confidence."""
    return next((phase, p) for below, phase, p in PI_TIME_PHASES if pi_time < below)


def load_classifiers() -> dict[Any, Any]:
    import pickle
    import warnings

    import sys

    if "xgboost" not in sys.modules and "sklearn" not in sys.modules:
        # xgboost.compat imports scikit-learn when it is installed (3-4 s), which predicting
        # from these pickled models never needs: hide it while xgboost is first imported.
        sys.modules["sklearn"] = None  # type: ignore[assignment]
        try:
            import xgboost  # noqa: F401  (the pickles hold XGBoost models)
        finally:
            del sys.modules["sklearn"]
    import xgboost  # noqa: F401,F811

    path = importlib.resources.files("totalsegmentator") / CLASSIFIER_RESOURCE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # XGBoost warns about pickled models of older versions
        with path.open("rb") as handle:
            return pickle.load(handle)


def predict_phase(total_structures: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The contrast phase, or why it could not be predicted (never raises for missing data)."""
    if total_structures is None:
        return not_predicted("the 'total' model did not run; the phase is predicted from its structures")
    if not any(total_structures.get(v, {}).get("present") for v in VESSELS):
        return not_predicted("no vessel of the predictor's features (aorta, venae cavae, portal vein, "
                             "iliac or pulmonary vessels) is in the 'total' map")  # fmt: skip
    brain = total_structures.get("brain") or {}
    if brain.get("present") and brain["volume_ml"] > BRAIN_LIMIT_ML:
        return not_predicted(
            "the brain is in the scan: the predictor then needs the neck vessels of "
            "TotalSegmentator's headneck_bones_vessels model, which this tool does not run"
        )
    features = phase_features(total_structures)
    try:
        classifiers = load_classifiers()
    except Exception as error:  # a missing or incompatible xgboost/TotalSegmentator
        return not_predicted(f"the predictor could not be loaded ({type(error).__name__}: {error})")
    row = np.asarray([list(features.values())], dtype=np.float64)
    predictions = np.array([float(clf.predict(row)[0]) for _, clf in sorted(classifiers.items())])
    pi_time = float(np.mean(predictions))
    phase, probability = pi_time_to_phase(round(pi_time, 2))
    return {
        "phase": phase,
        "probability": probability,
        "pi_time_s": round(pi_time, 2),
        "pi_time_min_s": round(float(predictions.min()), 2),
        "pi_time_max_s": round(float(predictions.max()), 2),
        "pi_time_std_s": round(float(predictions.std()), 4),
        "reason": None,
        "predictor": "TotalSegmentator contrast phase model",
        "features_median_hu": features,
    }
