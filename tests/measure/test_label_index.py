"""The shared one-pass LabelIndex, and the measurements built on it, against a full-volume
mask per label (the straightforward computation) on the real example CT."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.measure import label_index
from body_organ_analysis.measure.bone_density import bone_density
from body_organ_analysis.measure.cnr import FAT_HU, adjusted_cnr, reference_region
from body_organ_analysis.measure.label_index import LabelIndex
from body_organ_analysis.measure.structures import structure_statistics
from tests.measure.test_measure_structures import VOXEL_ML, independent_entry

NAMES = class_map["total"]


def layouts(ct: np.ndarray, seg: np.ndarray):
    """The same volume in both memory orders, and with the CT's order unlike the map's."""
    yield "fortran", np.asfortranarray(ct), np.asfortranarray(seg)
    yield "c", np.ascontiguousarray(ct), np.ascontiguousarray(seg)
    yield "mixed", np.ascontiguousarray(ct), np.asfortranarray(seg)


@pytest.mark.parametrize("layout", ["fortran", "c", "mixed"])
def test_counts_boxes_edges_and_sums_match_a_mask_per_label(monkeypatch, ct_and_total, layout):
    monkeypatch.setattr(label_index, "CHUNK_VOXELS", 4099)  # many chunks, odd boundaries
    ct, seg = dict((n, (c, s)) for n, c, s in layouts(*ct_and_total[:2]))[layout]
    index = LabelIndex(seg, ct)
    present = sorted(set(np.unique(seg).tolist()) - {0})
    assert len(present) == 41
    assert index.counts.sum() == seg.size
    for label in range(1, int(seg.max()) + 1):
        mask = seg == label
        assert index.count(label) == int(mask.sum())
        if not mask.any():
            assert index.box(label) is None and label not in index.edge_labels
            continue
        where = np.nonzero(mask)
        expected_box = tuple(slice(int(w.min()), int(w.max()) + 1) for w in where)
        assert index.box(label) == expected_box
        touches = any(w.min() == 0 or w.max() == n - 1 for w, n in zip(where, seg.shape))
        assert (label in index.edge_labels) == touches, label
        assert index.hu_sums[label] == ct[mask].astype(np.float64).sum()
        assert np.array_equal(index.mask(label, expected_box), mask[expected_box])
    assert any(label in index.edge_labels for label in present)  # the crop cuts structures
    assert any(label not in index.edge_labels for label in present)


def test_statistics_on_many_chunks_match_a_mask_per_label(monkeypatch, ct_and_total):
    monkeypatch.setattr(label_index, "CHUNK_VOXELS", 4099)
    ct, seg, _ = ct_and_total
    for hu in (ct, ct.astype(np.float32) + 0.5):  # histogram path, then sorting path
        measured = structure_statistics(hu, seg, NAMES, VOXEL_ML)
        for label, name in NAMES.items():
            mask = seg == label
            if not mask.any():
                assert measured[name]["present"] is False
                continue
            expected = independent_entry(hu, mask)
            for key, value in expected.items():
                assert measured[name][key] == pytest.approx(value, rel=1e-12, abs=1e-9), (name, key)


def test_bone_density_with_a_shared_index_matches_full_volume_masks(ct_and_total):
    ct, seg, affine = ct_and_total
    total = LabelMap(seg, affine, NAMES, "total")
    shared = bone_density(ct, total, LabelIndex(seg, ct))
    assert shared == bone_density(ct, total)  # with or without the caller's index
    from body_organ_analysis.measure.bone_density import trabecular_roi

    vertebrae = {n: i for i, n in NAMES.items() if n.startswith("vertebrae_") and (seg == i).any()}
    entries = shared.get("vertebrae", shared)  # the document's vertebra entries
    assert set(entries) == set(vertebrae) and len(vertebrae) >= 3
    for name, label in vertebrae.items():
        roi = trabecular_roi(seg == label, affine)  # the mask of the whole volume
        values = ct[roi].astype(np.float64)
        assert entries[name]["roi_voxel_count"] == values.size
        if values.size:  # to the rounding of the document, if any
            assert entries[name]["hu_mean"] == pytest.approx(values.mean(), abs=0.05)
            assert entries[name]["hu_std"] == pytest.approx(values.std(), abs=0.05)


def test_cnr_regions_match_an_erosion_of_the_whole_volume(ct_and_total):
    ct, seg, affine = ct_and_total
    total = LabelMap(seg, affine, NAMES, "total")
    ids = {name: label for label, name in NAMES.items()}
    indexes = {"total": LabelIndex(seg, ct)}
    reference = reference_region(ct, {"total": total}, indexes)

    def eroded_values(names: tuple[str, ...], remove_fat: bool) -> np.ndarray:
        mask = np.isin(seg, [ids[n] for n in names])
        if remove_fat:
            mask &= ~((ct >= FAT_HU[0]) & (ct <= FAT_HU[1]))
        return ct[ndimage.binary_erosion(mask)].astype(np.float64)

    muscle = eroded_values(("autochthon_left", "autochthon_right"), True)
    assert reference.voxel_count == muscle.size > 1000
    assert reference.mean_hu == pytest.approx(muscle.mean(), rel=1e-12)
    assert reference.noise_hu == pytest.approx(muscle.std(), rel=1e-12)
    rows, _ = adjusted_cnr(ct, {"total": total}, reference, indexes)
    aorta = eroded_values(("aorta",), False)
    assert rows["aorta"]["voxel_count"] == aorta.size > 0
    assert rows["aorta"]["hu_mean"] == pytest.approx(aorta.mean(), rel=1e-12)
    assert rows["aorta"]["cnr"] == pytest.approx((aorta.mean() - muscle.mean()) / muscle.std(), rel=1e-9)


def test_counts_and_present_labels_equal_numpys(monkeypatch, ct_and_total):
    from body_organ_analysis import labelmap

    monkeypatch.setattr(labelmap, "COUNT_CHUNK_VOXELS", 1001)
    seg = ct_and_total[1]
    for data in (seg, np.ascontiguousarray(seg).astype(np.uint16) * 300, seg.astype(np.int16) - 3,
                 seg.astype(np.float32), seg[::2, 1::3]):  # fmt: skip
        present = labelmap.present_labels(data)
        assert np.array_equal(present, np.unique(data)) and present.dtype == data.dtype
        if data.dtype.kind == "u":
            assert np.array_equal(labelmap.label_counts(data, minlength=5), np.bincount(data.ravel(), minlength=5))
