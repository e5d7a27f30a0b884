"""Structure statistics: every value against a plain numpy mask per label."""

from __future__ import annotations

import numpy as np
import pytest
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.measure.structures import STAT_KEYS, structure_statistics
from tests.measure.conftest import read_json

VOXEL_ML = 3.0 * 3.0 * 3.0 / 1000.0


def independent_entry(ct: np.ndarray, mask: np.ndarray) -> dict:
    values = ct[mask].astype(np.float64)
    p25, median, p75 = np.percentile(values, [25, 50, 75])  # numpy's linear convention
    edge = any(
        np.take(mask, index, axis=axis).any() for axis in range(3) for index in (0, mask.shape[axis] - 1)
    )
    return {
        "present": True, "truncated": bool(edge), "voxel_count": int(mask.sum()),
        "volume_ml": mask.sum() * VOXEL_ML, "hu_mean": values.mean(), "hu_std": values.std(),
        "hu_min": values.min(), "hu_p25": p25, "hu_median": median, "hu_p75": p75, "hu_max": values.max(),
    }  # fmt: skip


def test_every_value_matches_a_mask_per_label(analyzed, ct_and_total):
    ct, seg, _ = ct_and_total
    measured = read_json(analyzed / "structure-measurements.json")
    assert list(measured) == ["total", "provenance"]
    assert measured["provenance"] == {"stand_in": False, "approximate": False, "stand_in_models": [],
                                      "approximate_models": [], "text": ""}  # a supplied map  # fmt: skip
    names = class_map["total"]
    assert list(measured["total"]) == [names[i] for i in sorted(names)]  # exactly the model's labels
    present_ids = set(np.unique(seg).tolist()) - {0}
    assert len(present_ids) == 41  # 41 of the 117 labels are in this crop
    for label, name in names.items():
        entry = measured["total"][name]
        assert set(entry) == set(STAT_KEYS)
        if label not in present_ids:
            assert entry["present"] is False and entry["voxel_count"] == 0
            assert all(entry[k] is None for k in STAT_KEYS if k.startswith("hu_") or k == "cnr")
            continue
        expected = independent_entry(ct, seg == label)
        for key, value in expected.items():
            if isinstance(value, bool):
                assert entry[key] is value, (name, key)
            elif key == "volume_ml":  # 0.1 mL, or 3 significant digits when finer
                assert entry[key] == pytest.approx(value, abs=0.05 + 1e-9, rel=0.005), (name, key)
            else:  # HU to 0.1
                assert entry[key] == pytest.approx(value, abs=0.05 + 1e-9), (name, key)


def test_truncation_flags_on_real_data(analyzed, ct_and_total):
    _, seg, _ = ct_and_total
    measured = read_json(analyzed / "structure-measurements.json")["total"]
    flagged = {n for n, e in measured.items() if e["truncated"]}
    inside = {n for n, e in measured.items() if e["present"] and not e["truncated"]}
    assert flagged and inside  # the crop cuts some structures and not others
    faces = np.concatenate([seg[0].ravel(), seg[-1].ravel(), seg[:, 0].ravel(), seg[:, -1].ravel(),
                            seg[:, :, 0].ravel(), seg[:, :, -1].ravel()])  # fmt: skip
    expected = {class_map["total"][int(v)] for v in np.unique(faces) if v}
    assert flagged == expected


def test_float_ct_uses_the_sorted_path_with_the_same_conventions():
    rng = np.random.default_rng(0)
    labels = np.zeros((20, 21, 22), dtype=np.uint8)
    labels[2:10, 3:12, 4:9] = 1
    labels[11:19, 5:15, 8:20] = 3
    labels[0, 0, 0] = 3  # corner voxel: label 3 touches the edge, label 1 does not
    ct = rng.normal(40, 25, labels.shape).astype(np.float32)
    stats = structure_statistics(ct, labels, {1: "a", 2: "b", 3: "c"}, 0.001)
    assert stats["b"]["present"] is False and stats["b"]["hu_mean"] is None
    assert stats["a"]["truncated"] is False and stats["c"]["truncated"] is True
    for label, name in ((1, "a"), (3, "c")):
        values = ct[labels == label].astype(np.float64)
        assert stats[name]["hu_p25"] == pytest.approx(np.percentile(values, 25), rel=1e-12)
        assert stats[name]["hu_median"] == pytest.approx(np.median(values), rel=1e-12)
        assert stats[name]["hu_std"] == pytest.approx(values.std(), rel=1e-10)
        assert stats[name]["volume_ml"] == pytest.approx(values.size * 0.001)


def test_integer_and_float_paths_agree(ct_and_total):
    ct, seg, _ = ct_and_total
    names = class_map["total"]
    exact = structure_statistics(ct, seg, names, VOXEL_ML)
    shifted = structure_statistics(ct.astype(np.float64) + 0.25, seg, names, VOXEL_ML)  # not integer: sorts
    for name, entry in exact.items():
        if not entry["present"]:
            continue
        for key in ("hu_mean", "hu_min", "hu_p25", "hu_median", "hu_p75", "hu_max"):
            assert shifted[name][key] - 0.25 == pytest.approx(entry[key], abs=1e-9), (name, key)


def test_very_wide_hu_range_falls_back_to_sorting(monkeypatch, ct_and_total):
    from body_organ_analysis.measure import label_index

    ct, seg, _ = ct_and_total
    names = class_map["total"]
    exact = structure_statistics(ct, seg, names, VOXEL_ML)
    monkeypatch.setattr(label_index, "MAX_HISTOGRAM_BINS", 10)
    sorted_path = structure_statistics(ct, seg, names, VOXEL_ML)
    for name, entry in exact.items():
        for key in STAT_KEYS:
            if isinstance(entry[key], float):
                assert sorted_path[name][key] == pytest.approx(entry[key], rel=1e-12, abs=1e-9), (name, key)
            else:
                assert sorted_path[name][key] == entry[key]
