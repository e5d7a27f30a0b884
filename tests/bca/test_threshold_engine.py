"""The threshold engine against TotalSegmentator's tissue_types reference on the real example CT."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from body_organ_analysis.bca.threshold import threshold_maps
from body_organ_analysis.bca.tissues import TISSUE_IDS, tissue_map
from body_organ_analysis.settings import hu_windows
from body_organ_analysis.models.registry import BODY_PARTS_LABELS, BODY_REGIONS_LABELS

FAT_INSIDE = [TISSUE_IDS[t] for t in ("vat", "imat", "pat", "eat")]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.fixture(scope="module")
def reference(ts_example: Path) -> dict[str, np.ndarray]:
    folder = ts_example / "seg_tissue_types"
    return {p.name.split(".")[0]: np.asanyarray(nib.load(str(p)).dataobj) > 0 for p in folder.glob("*.nii.gz")}


def tissue_dice(ct, total, reference) -> dict[str, float]:
    regions, parts = threshold_maps(ct, total)
    tissues = tissue_map(ct.data, regions, hu_windows(), ct.affine).data
    return {
        "sat": dice(tissues == TISSUE_IDS["sat"], reference["subcutaneous_fat"]),
        "torso_fat": dice(np.isin(tissues, FAT_INSIDE), reference["torso_fat"]),
        "muscle": dice(tissues == TISSUE_IDS["muscle"], reference["skeletal_muscle"]),
    }


def test_dice_with_total_meets_the_targets(small_ct, small_total, reference):
    scores = tissue_dice(small_ct, small_total, reference)
    print("with total", scores)
    assert scores["sat"] >= 0.85
    assert scores["torso_fat"] >= 0.75
    assert scores["muscle"] >= 0.70


def test_dice_without_total(small_ct, reference):
    scores = tissue_dice(small_ct, None, reference)
    print("without total", scores)
    assert scores["sat"] >= 0.85
    assert scores["torso_fat"] >= 0.75
    assert scores["muscle"] >= 0.65  # organs touching the wall count as muscle without `total`


def test_maps_are_on_the_ct_grid_with_the_model_label_sets(small_ct, small_total):
    regions, parts = threshold_maps(small_ct, small_total)
    for label_map, labels in ((regions, BODY_REGIONS_LABELS), (parts, BODY_PARTS_LABELS)):
        assert label_map.data.shape == small_ct.shape
        np.testing.assert_array_equal(label_map.affine, small_ct.affine)
        assert label_map.labels == labels
        assert label_map.origin == "threshold"
        assert label_map.details["approximate"] is True
        assert set(np.unique(label_map.data)) <= {0, *labels}
    # every body voxel has a body part, and body parts cover nothing outside the body
    np.testing.assert_array_equal(regions.data > 0, parts.data > 0)
    # air at the edges of the field of view is never body
    edge = np.zeros(small_ct.shape, dtype=bool)
    edge[[0, -1], :, :] = True
    edge[:, [0, -1], :] = True
    air = edge & (small_ct.data < -900)
    assert air.any() and not regions.data[air].any()


def test_works_on_a_flipped_grid(small_ct, small_total):
    """A CT stored in another orientation gives the same maps, mapped onto its own grid."""
    from body_organ_analysis.imaging.volume import CTVolume

    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = small_ct.shape[0] - 1
    affine = small_ct.affine @ flip
    flipped = CTVolume(small_ct.data[::-1].copy(), affine, "nifti", "flipped")
    regions, _ = threshold_maps(flipped, None)
    original, _ = threshold_maps(small_ct, None)
    np.testing.assert_array_equal(regions.data[::-1], original.data)


def test_real_dicom_series_on_an_las_grid(ts_example: Path):
    """512 x 512 slices in LAS order (the real DICOM series, upper abdomen, arms beside the trunk)."""
    from body_organ_analysis.imaging import load_ct
    from body_organ_analysis.models.registry import get_model
    from body_organ_analysis.models.supplied import load_supplied

    ct = load_ct(ts_example / "dicom_series")
    total = load_supplied(ts_example / "seg_total_dicom_series.nii.gz", get_model("total"), ct)
    regions, parts = threshold_maps(ct, total)
    assert regions.data.shape == ct.shape == parts.data.shape
    counts = np.bincount(regions.data.ravel(), minlength=12)
    for name in ("subcutaneous_tissue", "muscle", "abdominal_cavity", "bones"):
        assert counts[{v: k for k, v in BODY_REGIONS_LABELS.items()}[name]] > 10_000, name
    assert np.isin(parts.data, [5, 6]).sum() > 10_000  # an arm
    liver = total.data == total.ids_by_name["liver"]
    assert liver.sum() > 10_000 and (regions.data[liver] == 3).mean() > 0.95  # in the abdominal cavity
