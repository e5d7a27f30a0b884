"""Per-slice tables, aggregation, examined region, levels and findings against direct numpy counts."""

from __future__ import annotations

import numpy as np
import pytest

from body_organ_analysis.bca.aggregation import aggregate, region_slices
from body_organ_analysis.bca.findings import breast_implants, cavity_volumes_ml, findings
from body_organ_analysis.bca.levels import patient_height_m, vertebral_levels
from body_organ_analysis.bca.region import examined_region, region_coverage_mm
from body_organ_analysis.bca.slices import slice_tables
from body_organ_analysis.bca.threshold import threshold_maps
from body_organ_analysis.bca.tissues import TISSUE_IDS, tissue_map
from body_organ_analysis.settings import hu_windows
from body_organ_analysis.errors import UsageError
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.registry import BODY_PARTS_LABELS, BODY_REGIONS_LABELS

REGION_IDS = {name: label for label, name in BODY_REGIONS_LABELS.items()}


@pytest.fixture(scope="module")
def measured(small_ct, small_total):
    regions, parts = threshold_maps(small_ct, small_total)
    tissues = tissue_map(small_ct.data, regions, hu_windows(), small_ct.affine)
    tables = slice_tables(small_ct.data, small_ct.affine, tissues, regions, parts, small_total)
    return regions, parts, tissues, tables


def test_tissue_map_follows_the_rules(small_ct, measured):
    regions, _, tissues, _ = measured
    hu, reg, tis = small_ct.data, regions.data, tissues.data
    fat = (hu >= -190) & (hu <= -30)
    np.testing.assert_array_equal(tis == TISSUE_IDS["sat"], fat & (reg == REGION_IDS["subcutaneous_tissue"]))
    np.testing.assert_array_equal(tis == TISSUE_IDS["muscle"], (hu >= -29) & (hu <= 150) & (reg == REGION_IDS["muscle"]))
    np.testing.assert_array_equal(tis == TISSUE_IDS["imat"], fat & (reg == REGION_IDS["muscle"]))
    bone_window = (hu >= -1000) & (hu <= 3000)
    np.testing.assert_array_equal(tis == TISSUE_IDS["bone"], bone_window & (reg == REGION_IDS["bones"]))


def test_custom_hu_window_changes_the_tissue(small_ct, measured):
    regions = measured[0]
    narrow = tissue_map(small_ct.data, regions, hu_windows({"muscle": (30, 150)}), small_ct.affine)
    assert (narrow.data == 1).sum() < (measured[2].data == 1).sum()
    with pytest.raises(UsageError):
        hu_windows({"muscle": (100, 0)})
    with pytest.raises(UsageError):
        hu_windows({"liver": (0, 100)})


def test_slice_tables_match_direct_counts(small_ct, measured):
    _, parts, tissues, tables = measured
    spacing = small_ct.spacing
    assert tables.axis == 2
    for z in (0, 11, 29):
        for tissue in ("muscle", "sat", "vat"):
            mask = tissues.data[:, :, z] == TISSUE_IDS[tissue]
            assert tables.area_cm2(tissue)[z] == pytest.approx(mask.sum() * spacing[0] * spacing[1] / 100)
            assert tables.volume_ml(tissue)[z] == pytest.approx(mask.sum() * np.prod(spacing) / 1000)
            if mask.any():
                assert tables.mean_hu(tissue)[z] == pytest.approx(small_ct.data[:, :, z][mask].mean())
            torso = mask & ~np.isin(parts.data[:, :, z], [3, 4, 5, 6])
            assert tables.area_cm2(tissue, True)[z] == pytest.approx(torso.sum() * spacing[0] * spacing[1] / 100)
    fat = np.isin(tissues.data, [3, 4, 5, 6, 7])
    assert tables.volume_ml("tat").sum() == pytest.approx(fat.sum() * np.prod(spacing) / 1000)
    z_world = (small_ct.affine @ np.array([0, 0, 7, 1.0]))[2]
    assert tables.position_mm[7] == pytest.approx(z_world)


def test_aggregation_matches_numpy(small_ct, small_total, measured):
    _, _, tissues, tables = measured
    aggregated = aggregate(tables, small_total, torso_only=False)
    assert {"whole_scan", "abdominal_cavity", "vertebrae_L1"} <= set(aggregated)
    slices = region_slices(tables, small_total)["vertebrae_L1"]
    l1_id = small_total.ids_by_name["vertebrae_L1"]
    np.testing.assert_array_equal(slices, (small_total.data == l1_id).any(axis=(0, 1)))
    mask = tissues.data == TISSUE_IDS["muscle"]
    per_slice_ml = mask.sum(axis=(0, 1))[slices] * np.prod(small_ct.spacing) / 1000
    stats = aggregated["vertebrae_L1"]["muscle"]
    ml = 0.05 + 1e-9  # volumes to 0.1 mL (3 significant digits when finer)
    assert stats["volume_ml"] == pytest.approx(per_slice_ml.sum(), abs=ml)
    assert stats["ml_per_slice_mean"] == pytest.approx(per_slice_ml.mean(), abs=ml)
    assert stats["ml_per_slice_std"] == pytest.approx(per_slice_ml.std(ddof=0), abs=ml)  # population SD
    assert stats["ml_per_slice_median"] == pytest.approx(np.median(per_slice_ml), abs=ml)
    assert stats["ml_per_slice_p25"] == pytest.approx(np.percentile(per_slice_ml, 25), abs=ml)
    assert stats["ml_per_slice_max"] == pytest.approx(per_slice_ml.max(), abs=ml)
    in_slices = mask & slices[None, None, :]
    assert stats["hu_mean"] == pytest.approx(small_ct.data[in_slices].mean(), abs=0.05 + 1e-9)


def test_examined_region_rules_and_forcing(small_ct, small_total, measured):
    tables = measured[3]
    coverage = region_coverage_mm(tables, small_total, 3.0)
    assert coverage["abdomen"] > coverage["thorax"] and coverage["neck"] == 0
    assert examined_region(coverage, None) == "abdomen"
    assert examined_region(coverage, "thorax") == "thorax"
    with pytest.raises(UsageError, match="does not contain the neck"):
        examined_region(coverage, "neck")
    assert examined_region({"abdomen": 0, "thorax": 40.0, "neck": 60.0}, None) == "neck"
    assert examined_region({"abdomen": 50.0, "thorax": 50.0, "neck": 0}, None) == "abdomen"


def test_levels_without_height_say_why(measured, small_total):
    levels = vertebral_levels(measured[3], small_total, {})
    assert list(levels) == ["T11", "T12", "L1", "L2"]  # no L3 in this scan; head to feet after it
    l1 = levels["L1"]
    assert l1["smi_cm2_per_m2"] is None and "Patient's Size" in l1["smi_missing_reason"]
    assert l1["muscle_area_cm2"] > 50
    assert levels["T11"]["truncated"] and not l1["truncated"]


@pytest.mark.parametrize("size, expected", [(1.7, 1.7), ("1.82", 1.82), (172, 1.72), (None, None), (9.0, None)])
def test_patient_height(size, expected):
    height, reason = patient_height_m({"PatientSize": size})
    assert height == expected
    assert (reason is None) == (expected is not None)


def test_findings_cavities_and_implants(measured):
    regions, tables = measured[0], measured[3]
    volumes = cavity_volumes_ml(tables)
    voxel_ml = tables.voxel_ml
    assert volumes["abdominal_cavity"] == pytest.approx((regions.data == 3).sum() * voxel_ml, abs=1e-2)
    assert volumes["ventral_cavity"] == pytest.approx(sum(volumes[k] for k in ("abdominal_cavity", "thoracic_cavity", "mediastinum", "pericardium")))


@pytest.mark.parametrize("flip_x", [False, True])
def test_implant_side_is_the_patients_side_from_the_body_midline(flip_x):
    """RAS+: larger world x is the patient's RIGHT; the midline is the body's, not x = 0."""
    data = np.zeros((40, 20, 20), dtype=np.uint8)
    data[:, 2:18, 2:18] = 1  # the body (subcutaneous tissue), world x from +100 to +178 mm
    data[2:10, 12:17, 5:15] = 8  # low index = low world x: the patient's LEFT (400 voxels)
    data[25:37, 12:17, 5:15] = 8  # high world x: the patient's RIGHT (600 voxels)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[0, 3] = 100.0  # the whole body lies at x > 0, so "x > 0 is one side" would be wrong
    if flip_x:  # the same voxels stored in LAS order
        data = data[::-1].copy()
        affine = affine @ np.array([[-1.0, 0, 0, 39], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    implants = breast_implants(LabelMap(data, affine, BODY_REGIONS_LABELS, "body_regions"), 0.05)
    assert implants == [{"side": "left", "volume_ml": pytest.approx(400 * 0.05)},
                        {"side": "right", "volume_ml": pytest.approx(600 * 0.05)}]


def test_findings_find_implants_through_the_slice_tables_and_none_without():
    data = np.zeros((40, 20, 20), dtype=np.uint8, order="F")
    data[:, 2:18, 2:18] = 1
    data[2:10, 12:17, 5:15] = 8  # 400 voxels of 64 mm^3: 25.6 mL on the patient's left
    data[25:37, 12:17, 5:15] = 8  # 600 voxels: 38.4 mL on the right
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    hu = np.zeros(data.shape, dtype=np.int16, order="F")
    parts = LabelMap(np.ones_like(data), affine, BODY_PARTS_LABELS, "body_parts")

    def found(regions_data: np.ndarray) -> dict:
        regions = LabelMap(regions_data, affine, BODY_REGIONS_LABELS, "body_regions")
        tables = slice_tables(hu, affine, tissue_map(hu, regions, hu_windows(), affine), regions, parts, None)
        return findings(tables, regions)

    with_implants = found(data)
    assert with_implants["breast_implant_count"] == 2
    assert with_implants["breast_implants"] == [{"side": "left", "volume_ml": pytest.approx(25.6)},
                                                {"side": "right", "volume_ml": pytest.approx(38.4)}]
    assert found(np.where(data == 8, 1, data).astype(np.uint8))["breast_implants"] == []


def test_middle_slice_is_the_middle_in_world_z_whatever_the_slice_order():
    from body_organ_analysis.bca.levels import middle_slice

    up = np.arange(10) * 3.0  # slices stored feet first
    down = up[::-1].copy()  # the same slices stored head first
    present = np.arange(2, 8)  # six slices: 6..21 mm, middle 13.5 mm between 12 and 15
    assert up[middle_slice(up, present)] == 12.0  # the inferior of the two nearest
    assert down[middle_slice(down, present)] == 12.0
    assert up[middle_slice(up, np.arange(2, 7))] == 12.0  # odd count: the true middle


def test_vertebral_levels_do_not_change_when_the_volume_is_flipped(small_ct, small_total, measured):
    from body_organ_analysis.imaging.volume import CTVolume

    flip = np.eye(4)
    flip[2, 2], flip[2, 3] = -1.0, small_ct.shape[2] - 1
    affine = small_ct.affine @ flip  # the same voxels, slices stored head first
    ct = CTVolume(small_ct.data[:, :, ::-1].copy(), affine, "nifti", "flipped")
    total = LabelMap(small_total.data[:, :, ::-1].copy(), affine, small_total.labels, "total")
    regions, parts = threshold_maps(ct, total)
    tissues = tissue_map(ct.data, regions, hu_windows(), affine)
    tables = slice_tables(ct.data, affine, tissues, regions, parts, total)
    flipped = vertebral_levels(tables, total, {"PatientSize": 1.7})
    original = vertebral_levels(measured[3], small_total, {"PatientSize": 1.7})
    assert list(flipped) == list(original)
    for name, row in original.items():
        other = dict(flipped[name])
        assert other.pop("slice_index") == small_ct.shape[2] - 1 - row["slice_index"]
        assert other == {k: v for k, v in row.items() if k != "slice_index"}, name


def test_torso_only_counts_torso_voxels_never_unlabelled_or_head(small_ct, small_total, measured):
    """A body-parts map with an unlabelled rim (and a head slab): SAT without extremities must not grow."""
    regions, parts, tissues, tables = measured
    rim = parts.data.copy()
    rim[:6], rim[-6:], rim[:, :6], rim[:, -6:] = 0, 0, 0, 0  # the outer rim: no body part
    rim[:, :, :3][rim[:, :, :3] == 1] = 2  # the top slices: head
    with_rim = LabelMap(rim, parts.affine, parts.labels, "body_parts")
    rim_tables = slice_tables(small_ct.data, small_ct.affine, tissues, regions, with_rim, small_total)
    torso = rim == 1
    for tissue in ("sat", "muscle", "vat"):
        expected = ((tissues.data == TISSUE_IDS[tissue]) & torso).sum(axis=(0, 1)) * np.prod(small_ct.spacing) / 1000
        np.testing.assert_allclose(rim_tables.volume_ml(tissue, True), expected, rtol=1e-12)
        assert (rim_tables.volume_ml(tissue, True) <= tables.volume_ml(tissue, True) + 1e-12).all()
        np.testing.assert_allclose(rim_tables.volume_ml(tissue), tables.volume_ml(tissue), rtol=1e-12)  # all voxels
    assert rim_tables.volume_ml("sat", True).sum() < tables.volume_ml("sat", True).sum()  # the rim held SAT


def test_bone_window_keeps_metal_out_of_bone(small_ct, measured):
    from body_organ_analysis.bca.tissues import metal_voxels

    regions = measured[0]
    bone = regions.data == REGION_IDS["bones"]
    hu = small_ct.data.copy()
    spot = tuple(np.argwhere(bone)[len(np.argwhere(bone)) // 2])
    hu[spot] = 8000  # a metal voxel inside bone
    tissues = tissue_map(hu, regions, hu_windows(), small_ct.affine)
    assert tissues.data[spot] == 0 and metal_voxels(hu, regions, hu_windows()) == metal_voxels(small_ct.data, regions, hu_windows()) + 1
    wide = tissue_map(hu, regions, hu_windows({"bone": (-1000, 10000)}), small_ct.affine)
    assert wide.data[spot] == TISSUE_IDS["bone"]  # the window is a setting
