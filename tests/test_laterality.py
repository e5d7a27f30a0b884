"""Left and right against oracles no phantom can get wrong: the names in TotalSegmentator's
reference `total` maps of the real example CT (liver and kidney_right on the patient's right).

Checked on the figures the report draws (pixel columns in each panel), on the preview PNG,
in the patient-side rule and on the threshold engine's arms, for several storage orders.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.imaging.orientation import body_midline_x, patient_side, world_coordinates

IDS = {name: label for label, name in class_map["total"].items()}
ORDERS = ["RAS", "LPS", "LAS", "PIR"]


@pytest.fixture(scope="module")
def example(ts_example: Path):
    ct = nib.load(str(ts_example / "ct_small.nii.gz"))
    seg = nib.load(str(ts_example / "seg_total.nii.gz"))
    assert nib.aff2axcodes(ct.affine) == ("R", "A", "S")
    return ct, seg


def as_order(image: nib.Nifti1Image, codes: str) -> tuple[np.ndarray, np.ndarray]:
    transform = nib.orientations.ornt_transform(
        nib.orientations.io_orientation(image.affine), nib.orientations.axcodes2ornt(tuple(codes))
    )
    moved = image.as_reoriented(transform)
    return np.asanyarray(moved.dataobj), moved.affine


def columns(mask: np.ndarray) -> float:
    """Mean pixel column of a mask as a fraction of the panel width (0: viewer's left)."""
    assert mask.any()
    return float(np.nonzero(mask)[1].mean() / mask.shape[1])


@pytest.mark.parametrize("codes", ORDERS)
def test_patient_side_of_every_paired_structure_agrees_with_its_name(example, codes):
    ct, seg = example
    hu, affine = as_order(ct, codes)
    labels, _ = as_order(seg, codes)
    midline = body_midline_x(hu > -300, affine)
    checked = 0
    for name, label in IDS.items():
        side = "right" if "_right" in name else "left" if "_left" in name else None
        if side is None or not (labels == label).any():
            continue
        x_mm = world_coordinates(affine, np.argwhere(labels == label).mean(axis=0))[0]
        assert patient_side(x_mm, midline) == side, name
        checked += 1
    assert checked >= 20  # kidneys, adrenals, lungs, back muscles, iliopsoas, ribs
    liver_x = world_coordinates(affine, np.argwhere(labels == IDS["liver"]).mean(axis=0))[0]
    assert patient_side(liver_x, midline) == "right"


@pytest.mark.parametrize("codes", ["RAS", "LPS", "PIR"])
def test_report_figure_panels_show_the_liver_on_the_viewers_left(example, codes):
    from body_organ_analysis.report.pdf_figures import axial_picks, panel, ras_volumes, summary_cuts

    ct, seg = example
    hu, affine = as_order(ct, codes)
    labels, _ = as_order(seg, codes)
    body = (hu > -300).astype(np.uint8)  # stands in for body_regions and tissues
    vol = ras_volumes(hu, affine, body, body, labels)
    liver, kidney_left = IDS["liver"], IDS["kidney_left"]
    shown = 0
    for z in axial_picks(vol):
        axial = panel(vol.total, "axial", z, vol.step)
        if (axial == liver).sum() > 20:
            assert columns(axial == liver) < 0.5, f"axial slice {z}"
            shown += 1
        if (axial == kidney_left).sum() > 20:
            assert columns(axial == kidney_left) > 0.5, f"axial slice {z}"
        # anterior at the top: the vertebral bodies lie in the lower half
        spine = np.isin(axial, [IDS[f"vertebrae_{v}"] for v in ("T11", "T12", "L1", "L2")])
        if spine.sum() > 10:
            assert np.nonzero(spine)[0].mean() / axial.shape[0] > 0.5
    assert shown >= 2
    for y in (summary_cuts(vol)[0], int(np.argwhere(vol.total == liver)[:, 1].mean())):
        coronal = panel(vol.total, "coronal", y, vol.step)
        assert columns(coronal == liver) < 0.5
        if (coronal == kidney_left).sum() > 20:
            assert columns(coronal == kidney_left) > 0.5
    # head at the top: in the sagittal cut through the spine T11 lies above L2
    spine_x = int(np.argwhere(vol.total == IDS["vertebrae_L1"])[:, 0].mean())
    sagittal = panel(vol.total, "sagittal", spine_x, vol.step)
    rows = {v: np.nonzero(sagittal == IDS[f"vertebrae_{v}"])[0].mean() for v in ("T11", "L2")}
    assert rows["T11"] < rows["L2"]
    # anterior on the left: the back muscles (posterior) lie right of the vertebra
    back = np.isin(sagittal, [IDS["autochthon_left"], IDS["autochthon_right"]])
    if back.sum() > 20:
        assert columns(back) > columns(sagittal == IDS["vertebrae_L1"])


def test_report_figures_are_the_same_pictures_in_every_storage_order(example):
    from body_organ_analysis.report.pdf_figures import axial_picks, panel, ras_volumes, summary_cuts

    ct, seg = example
    panels = {}
    for codes in ORDERS:
        hu, affine = as_order(ct, codes)
        labels, _ = as_order(seg, codes)
        vol = ras_volumes(hu, affine, labels, labels, labels)
        y, x = summary_cuts(vol)
        panels[codes] = [panel(vol.hu, "axial", z, vol.step) for z in axial_picks(vol)] + [
            panel(vol.hu, "coronal", y, vol.step), panel(vol.total, "sagittal", x, vol.step)]
    for codes in ORDERS[1:]:
        for a, b in zip(panels["RAS"], panels[codes]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("codes", ["RAS", "LPS"])
def test_preview_png_liver_left_with_edge_letters(example, codes, tmp_path):
    from PIL import Image

    from body_organ_analysis.report.preview import GAP_PIXELS, preview_image, preview_panels, write_preview

    ct, seg = example
    hu, affine = as_order(ct, codes)
    labels, _ = as_order(seg, codes)
    (view, coronal), (_, sagittal) = preview_panels(hu, labels, affine)
    assert view == "coronal"
    only_liver = np.where(labels == IDS["liver"], IDS["liver"], 0)
    (_, liver_panel), _ = preview_panels(hu, only_liver, affine)
    coloured = np.ptp(liver_panel.astype(int), axis=2) > 30
    assert columns(coloured) < 0.5
    write_preview(tmp_path / "p.png", hu, labels, affine)
    written = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).astype(int)
    plain = preview_image(hu, labels, affine).astype(int)
    assert written.shape == plain.shape
    yellow = (written[..., 0] > 200) & (written[..., 1] > 170) & (written[..., 2] < 90)
    height, width = coronal.shape[:2]
    assert yellow[height // 3 : 2 * height // 3, : width // 10].any()  # "R" at the left edge
    assert yellow[height // 3 : 2 * height // 3, width - width // 10 : width].any()  # "L"
    left = width + GAP_PIXELS
    assert yellow[height // 3 : 2 * height // 3, left : left + sagittal.shape[1] // 10].any()  # "A"
    assert (written != plain).any(axis=2).mean() < 0.05  # letters only, the picture unchanged


def test_threshold_engine_arms_agree_with_the_humerus_names(ts_example: Path):
    """The real DICOM series (arms beside the trunk), engine without `total` hints, LAS and RAS storage."""
    from body_organ_analysis.bca.threshold import threshold_maps
    from body_organ_analysis.imaging import load_ct
    from body_organ_analysis.imaging.orientation import reorient
    from body_organ_analysis.imaging.volume import CTVolume
    from body_organ_analysis.models.registry import BODY_PARTS_LABELS, get_model
    from body_organ_analysis.models.supplied import load_supplied

    parts_ids = {name: label for label, name in BODY_PARTS_LABELS.items()}
    ct = load_ct(ts_example / "dicom_series")
    total = load_supplied(ts_example / "seg_total_dicom_series.nii.gz", get_model("total"), ct)
    for flip in (False, True):
        data, affine, humeri = ct.data, ct.affine, total.data
        if flip:  # the same CT stored in RAS order
            data, affine = reorient(ct.data, ct.affine, ("R", "A", "S"))
            humeri, _ = reorient(total.data, ct.affine, ("R", "A", "S"))
        _, parts = threshold_maps(CTVolume(data, affine, "nifti", "series"), None)
        in_arms = 0
        for side, other in (("right", "left"), ("left", "right")):
            humerus = humeri == total.ids_by_name[f"humerus_{side}"]
            assert humerus.sum() > 500
            found = np.bincount(parts.data[humerus], minlength=7)
            # an arm apart from the trunk is found (the right one rests against it here and stays
            # torso); wherever a humerus is called an arm, it is the arm of its own side
            assert found[parts_ids[f"{other}_arm"]] == 0, (side, flip, found)
            in_arms += found[parts_ids[f"{side}_arm"]]
        assert in_arms > 2000
