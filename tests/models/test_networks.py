"""Network descriptors and stand-ins: the folders and trainers TotalSegmentator uses, real label sets."""

from __future__ import annotations

import json

from body_organ_analysis.models.networks import STAND_IN_MARKER, networks_for
from body_organ_analysis.models.registry import MODELS, get_model, resolve_models


def names(specs):
    return [s.name for s in specs]


def test_total_default_is_five_parts_fast_is_3mm():
    from totalsegmentator.map_to_binary import class_map

    parts = networks_for(get_model("total"))
    assert [n.dataset_id for n in parts] == [291, 292, 293, 294, 295]
    assert {n.trainer for n in parts} == {"nnUNetTrainerNoMirroring"}
    assert all(n.spacing_zyx == (1.5, 1.5, 1.5) for n in parts)
    combined = sorted(name for n in parts for _, name in n.labels)
    assert combined == sorted(class_map["total"].values())  # the parts cover total exactly once
    (fast,) = networks_for(get_model("total"), fast=True)
    assert fast.folder == "Dataset297_TotalSegmentator_total_3mm_1559subj"
    assert fast.trainer_dir == "nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres"
    assert fast.spacing_zyx == (3.0, 3.0, 3.0)
    assert fast.archive_url(None) == (
        "https://github.com/wasserth/TotalSegmentator/releases/download/v2.0.0-weights/"
        "Dataset297_TotalSegmentator_total_3mm_1559subj.zip"
    )


def test_fast_total_leaves_models_without_fast_variant_alone():
    assert networks_for(get_model("liver_vessels"), fast=True) == networks_for(get_model("liver_vessels"))


def test_body_composition_networks_and_fast_bca():
    (regions,) = networks_for(get_model("body_regions"))
    assert regions.folder == "Dataset542_BCA_inference" and regions.folds == (0, 1, 2, 3, 4)
    assert regions.archive_url(None).startswith(
        "https://github.com/UMEssen/Body-and-Organ-Analysis/releases/download/v1.0.0-weights/"
    )
    assert networks_for(get_model("body_parts"), fast_bca=True)[0].folds == (0,)
    assert networks_for(get_model("bca")) == []


def test_licensed_model_has_no_public_download():
    (heart,) = networks_for(get_model("heartchambers_highres"))
    assert heart.licensed and heart.archive_url(None) is None
    assert heart.archive_url("http://mirror") == "http://mirror/Dataset301_heart_highres_1559subj.zip"


def test_crop_models_require_total_and_bca_follows_its_engine():
    for name in ("lung_vessels", "liver_vessels", "liver_segments", "hip_implant", "cerebral_bleed"):
        assert names(resolve_models([name], None)) == ["total", name]
    assert names(resolve_models(["bca"], None, "nnunet")) == ["total", "body_regions", "body_parts", "bca"]
    assert names(resolve_models(["bca"], None, "threshold")) == ["total", "bca"]


def test_standins_layout_and_label_sets(standin_weights):
    for spec in (MODELS["total"], MODELS["liver_vessels"], MODELS["body_parts"]):
        for fast in (False, True):
            for network in networks_for(spec, fast=fast):
                assert network.is_present(standin_weights) and network.is_stand_in(standin_weights)
                model_dir = network.model_dir(standin_weights)
                labels = json.loads((model_dir / "dataset.json").read_text())["labels"]
                assert {v: k for k, v in labels.items() if v} == dict(network.labels)
                assert (standin_weights / network.folder / STAND_IN_MARKER).is_file()


def test_standins_command_line(tmp_path, capsys):
    from helpers.standins import main

    assert main(["--dir", str(tmp_path), "liver_vessels"]) == 0
    printed = capsys.readouterr().out.split()
    # liver_vessels crops to total: its stand-ins come along
    assert any("Dataset008_HepaticVessel" in p for p in printed)
    assert any("Dataset297_TotalSegmentator_total_3mm_1559subj" in p for p in printed)
