"""Groups of `total` structures the threshold engine uses as anatomical hints.

Grouped by name (TotalSegmentator v2 names), so that the groups follow the
installed label set instead of copying ids.
"""

from __future__ import annotations

import numpy as np

from body_organ_analysis.labelmap import LabelMap

BONE_PREFIXES = ("vertebrae_", "rib_", "hip_", "femur_", "humerus_", "scapula_", "clavicula_")
BONE_NAMES = {"sacrum", "sternum", "costal_cartilages", "skull"}
MUSCLE_PREFIXES = ("autochthon_", "iliopsoas_", "gluteus_")
LUNG_PREFIXES = ("lung_",)
THORACIC_NAMES = {"heart", "trachea", "esophagus", "thyroid_gland", "atrial_appendage_left",
                  "pulmonary_vein", "superior_vena_cava", "brachiocephalic_trunk"}  # fmt: skip
NOT_CAVITY = {"spinal_cord", "brain", "thyroid_gland", "skull"}


def group_of(name: str) -> str:
    """'vertebra', 'bone', 'muscle', 'lung', 'heart', 'spinal_cord', 'brain', 'gland' or 'organ'."""
    if name == "spinal_cord":
        return "spinal_cord"
    if name == "brain":
        return "brain"
    if name == "thyroid_gland":
        return "gland"
    if name == "heart":
        return "heart"
    if name.startswith(LUNG_PREFIXES):
        return "lung"
    if name.startswith(MUSCLE_PREFIXES):
        return "muscle"
    if name.startswith("vertebrae_"):
        return "vertebra"
    if name.startswith(BONE_PREFIXES) or name in BONE_NAMES:
        return "bone"
    return "organ"


def group_lookup(total: LabelMap) -> dict[str, np.ndarray]:
    """Group name -> boolean lookup table over label ids (index with the label map)."""
    size = max(total.labels, default=0) + 1
    tables: dict[str, np.ndarray] = {}
    for label_id, name in total.labels.items():
        group = group_of(name)
        tables.setdefault(group, np.zeros(size, dtype=bool))[label_id] = True
    return tables


def group_masks(total: LabelMap, data: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Group name -> boolean mask; ``data`` overrides ``total.data`` (e.g. a reoriented copy)."""
    values = total.data if data is None else data
    values = np.clip(values, 0, max(total.labels, default=0)).astype(np.intp, copy=False)
    return {group: table[values] for group, table in group_lookup(total).items()}


def vertebra_names(total: LabelMap) -> list[str]:
    return [name for name in total.labels.values() if name.startswith("vertebrae_")]
