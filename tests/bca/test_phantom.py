"""The phantom: measured tissue volumes and areas against its exactly known truth."""

from __future__ import annotations

import numpy as np
import pytest

from body_organ_analysis.bca.levels import vertebral_levels
from body_organ_analysis.bca.slices import slice_tables
from body_organ_analysis.bca.threshold import threshold_maps
from body_organ_analysis.bca.tissues import ALL_TISSUES, TISSUE_IDS, tissue_map
from body_organ_analysis.settings import hu_windows
from body_organ_analysis.demo import phantom as phantom_module

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


def test_phantom_is_sided_the_ras_way(phantom, phantom_total):
    """+x is the patient's right: liver, right kidney, right lung and right humerus at larger x than
    the body's midline; the spleen and the left ones at smaller x. The midline is not world x = 0."""
    from body_organ_analysis.imaging.orientation import body_midline_x, patient_side, world_coordinates

    midline = body_midline_x(phantom.hu > -500, phantom.affine)
    assert abs(midline) > 30  # a test of "x = 0 is the midline" would fail here
    ids = phantom_total.ids_by_name
    sides = {"liver": "right", "spleen": "left", "kidney_right": "right", "kidney_left": "left",
             "humerus_right": "right", "humerus_left": "left", "lung_lower_lobe_right": "right",
             "autochthon_right": "right", "autochthon_left": "left", "aorta": "left",
             "inferior_vena_cava": "right"}  # fmt: skip
    for name, side in sides.items():
        mask = phantom.total == ids[name]
        assert mask.any(), name
        x_mm = world_coordinates(phantom.affine, np.argwhere(mask).mean(axis=0))[0]
        assert patient_side(x_mm, midline) == side, name
    # not mirror-symmetric: the liver has no counterpart on the left
    liver = phantom.total == ids["liver"]
    assert not (liver & liver[::-1]).any()


@pytest.mark.parametrize("with_total", [True, False])
def test_threshold_engine_names_the_phantoms_arms_by_the_patients_side(phantom, phantom_ct, phantom_total, with_total):
    from body_organ_analysis.models.registry import BODY_PARTS_LABELS

    _, parts = threshold_maps(phantom_ct, phantom_total if with_total else None)
    ids = {name: label for label, name in BODY_PARTS_LABELS.items()}
    for side in ("right", "left"):
        humerus = phantom.total == phantom_total.ids_by_name[f"humerus_{side}"]
        assert (parts.data[humerus] == ids[f"{side}_arm"]).mean() > 0.99, side


def test_demo_prints_no_warnings_it_causes_itself(tmp_path, capsys, caplog):
    """Back muscles (CNR) and vessels (contrast phase) are in the phantom's map; only the
    threshold engine's "approximate" notice remains. The comparison names its reference."""
    import logging

    from body_organ_analysis.demo.run import run_demo

    with caplog.at_level(logging.WARNING):
        assert run_demo(tmp_path / "demo", None, 0, {"BCA_NO_PDF": "1"}) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings and all("threshold engine" in w for w in warnings), warnings
    printed = capsys.readouterr().out
    assert "phantom's own drawn truth" in printed and "nothing about accuracy" in printed
