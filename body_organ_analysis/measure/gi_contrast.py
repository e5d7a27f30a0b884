"""Contrast in the gastro-intestinal tract (and a second IV phase opinion) via boa-contrast.

The published predictor is the reference tool's ``boa-contrast`` package
(Baldini et al., Invest Radiol 2024), an optional add-on: its version pins
conflict with this tool's (scikit-learn <= 1.3, numpy < 2, torch < 2.6), so it
is not a dependency. Where it is installed and its models load, the CT and a
``total`` map are handed to its feature builder with a label map written
here BY NAME from this run's TotalSegmentator v2 ids (its built-in map holds
v1 ids, which point at the wrong organs in v2 masks). The pulmonary artery,
absent from v2 ``total``, comes from ``heartchambers_highres`` when that ran.
Otherwise the result says why no prediction was made.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from body_organ_analysis.labelmap import LabelMap

# boa-contrast's regions -> (model, structure name) in this tool's label maps
BOA_CONTRAST_REGIONS = {
    "aorta": ("total", "aorta"),
    "inferior_vena_cava": ("total", "inferior_vena_cava"),
    "portal_vein_and_splenic_vein": ("total", "portal_vein_and_splenic_vein"),
    "pulmonary_artery": ("heartchambers_highres", "pulmonary_artery"),
    "stomach": ("total", "stomach"),
    "duodenum": ("total", "duodenum"),
    "small_bowel": ("total", "small_bowel"),
    "colon": ("total", "colon"),
    "urinary_bladder": ("total", "urinary_bladder"),
    "liver": ("total", "liver"),
    "gallbladder": ("total", "gallbladder"),
    "pancreas": ("total", "pancreas"),
    "kidney_right": ("total", "kidney_right"),
    "kidney_left": ("total", "kidney_left"),
}
EXTRA_ID = 250  # id given to structures that come from another model than total
UNUSED_ID = 255  # regions without a structure: an id no voxel has (boa-contrast skips them)


def boa_contrast_map(labelmaps: dict[str, LabelMap]) -> tuple[np.ndarray, dict[str, int]]:
    """One label array and boa-contrast's region -> id map, from the maps by name."""
    total = labelmaps["total"]
    combined = np.asarray(total.data).astype(np.uint8, copy=True)
    region_ids = {region: UNUSED_ID for region in BOA_CONTRAST_REGIONS}
    for region, (model, name) in BOA_CONTRAST_REGIONS.items():
        source = labelmaps.get(model)
        if source is None or name not in source.ids_by_name:
            continue
        if model == "total":
            region_ids[region] = total.ids_by_name[name]
        else:
            combined[source.data == source.ids_by_name[name]] = EXTRA_ID
            region_ids[region] = EXTRA_ID
    return combined, region_ids


def not_predicted(reason: str) -> dict[str, Any]:
    return {"gi_contrast": None, "gi_probability": None, "iv_phase": None, "reason": reason,
            "predictor": "boa-contrast"}  # fmt: skip


def predict_gi_contrast(ct_image: Any, labelmaps: dict[str, LabelMap]) -> dict[str, Any]:
    """GI contrast (and boa-contrast's IV phase); ``ct_image`` is a nibabel image of the CT."""
    if "total" not in labelmaps:
        return not_predicted("the 'total' model did not run")
    try:
        import boa_contrast
        from boa_contrast.ml import ContrastRecognition

        ContrastRecognition(task="git")  # loads the pickled models: fails on newer scikit-learn
    except ImportError as error:
        if error.name not in (None, "boa_contrast", "boa_contrast.ml"):
            return not_predicted(f"boa-contrast is installed but needs {error.name!r}, which is not")
        return not_predicted(
            "not installed, and not installable here: GI contrast needs the reference tool's boa-contrast "
            "models, which cannot be installed beside this tool (they need scikit-learn <= 1.3, "
            "numpy < 2 and torch < 2.6); nothing to do, the other results are complete"
        )
    except Exception as error:
        return not_predicted(f"not available: boa-contrast is installed but its models cannot be loaded "
                             f"({type(error).__name__}; they were pickled with scikit-learn <= 1.3, which "
                             "this tool does not use); the other results are complete")  # fmt: skip
    import nibabel as nib

    combined, region_ids = boa_contrast_map(labelmaps)
    with tempfile.TemporaryDirectory(prefix="boa-contrast-") as folder:
        ct_path = Path(folder) / "ct.nii"
        nib.save(ct_image, str(ct_path))
        nib.save(nib.Nifti1Image(combined, ct_image.affine), str(Path(folder) / "total.nii"))
        output = boa_contrast.predict(ct_path, folder, one_mask_per_file=False,
                                      total_segmentation_name="total.nii", label_map=region_ids)  # fmt: skip
    if output is None:
        return not_predicted("boa-contrast found no usable structure")
    return {
        "gi_contrast": str(output["git_ensemble_predicted_class"]),
        "gi_probability": float(np.max(output["git_ensemble_probas"])),
        "iv_phase": str(output["phase_ensemble_predicted_class"]),
        "iv_probability": float(np.max(output["phase_ensemble_probas"])),
        "reason": None,
        "predictor": "boa-contrast",
    }
