"""The phantom: measured tissue volumes and areas against its exactly known truth."""

from __future__ import annotations

import numpy as np
import pytest

from body_organ_analysis.bca.levels import vertebral_levels
from body_organ_analysis.bca.slices import slice_tables
from body_organ_analysis.bca.threshold import threshold_maps
from body_organ_analysis.bca.tissues import ALL_TISSUES, TISSUE_IDS, hu_windows, tissue_map
from body_organ_analysis.testing import phantom as phantom_module

TOLERANCE = 0.01


@pytest.fixture(scope="module", params=["with total", "without total"])
def measured(request, phantom, phantom_ct, phantom_total):
    total = phantom_total if request.param == "with total" else None
    regions, parts = threshold_maps(phantom_ct, total)
    tissues = tissue_map(phantom_ct.data, regions, hu_windows(), phantom_ct.affine)
    tables = slice_tables(phantom_ct.data, phantom_ct.affine, tissues, regions, parts, phantom_total)
    return tissues, tables


def test_truth_is_exact_by_construction(phantom):
    """Every class lies more than 5 noise SDs inside its HU window, so HU decides nothing by chance."""
    hu = phantom.hu.astype(float)
    for tissue, window in (("muscle", (-29, 150)), ("sat", (-190, -30)), ("vat", (-190, -30))):
        values = hu[phantom.truth_tissues == TISSUE_IDS[tissue]]
        assert values.min() >= window[0] and values.max() <= window[1]
    assert phantom.truth_volume_ml("muscle") > 1000 and phantom.truth_volume_ml("vat") > 1000
    assert phantom.truth_extremity.any()


@pytest.mark.parametrize("tissue", [t for t in ALL_TISSUES if t != "eat"])
@pytest.mark.parametrize("torso_only", [False, True])
def test_volumes_within_one_percent(measured, phantom, tissue, torso_only):
    _, tables = measured
    got = float(tables.volume_ml(tissue, torso_only).sum())
    truth = phantom.truth_volume_ml(tissue, torso_only)
    assert got == pytest.approx(truth, rel=TOLERANCE)


def test_extremities_change_the_torso_numbers(measured, phantom):
    _, tables = measured
    assert tables.volume_ml("muscle").sum() > tables.volume_ml("muscle", True).sum() + 100


def test_areas_per_slice_within_one_percent(measured, phantom):
    _, tables = measured
    for z in range(0, phantom.hu.shape[2], 3):
        for tissue in ("muscle", "sat", "vat"):
            truth = phantom.truth_area_cm2(tissue, z, torso_only=True)
            got = float(tables.area_cm2(tissue, True)[z])
            assert got == pytest.approx(truth, rel=TOLERANCE, abs=0.5), (tissue, z)


def test_l3_level_matches_truth(measured, phantom, phantom_total):
    _, tables = measured
    levels = vertebral_levels(tables, phantom_total, {"PatientSize": 1.80})
    assert list(levels)[0] == "L3"
    l3 = levels["L3"]
    index = phantom_module.VERTEBRAE.index("L3")
    assert l3["slice_index"] == 5 * index + 2  # middle of its five slices
    truth = phantom.truth_area_cm2("muscle", l3["slice_index"])
    assert l3["muscle_area_cm2"] == pytest.approx(truth, rel=TOLERANCE)
    assert l3["smi_cm2_per_m2"] == pytest.approx(l3["muscle_area_cm2"] / 1.80**2, rel=1e-3)
    assert l3["smi_missing_reason"] is None
    assert l3["muscle_hu_mean"] == pytest.approx(phantom_module.HU["muscle"], abs=2)
