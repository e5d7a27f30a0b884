"""Tiny stand-in nnU-Net models for tests (no real weights can be had here).

``python tests/helpers/standins.py --dir DIR MODEL...`` writes,
for every network of each model (both variants of ``total``), a valid
nnU-Net v2 result folder where TotalSegmentator looks when
``TOTALSEG_WEIGHTS_PATH=DIR``::

    DIR/DatasetNNN_name/<trainer>__nnUNetPlans__3d_fullres/{plans.json,dataset.json,fold_N/checkpoint_final.pth}

The network is a very small PlainConvUNet with seeded random weights and the
model's real label set, so the output is deterministic, spatially varied
nonsense. ``DIR/DatasetNNN_name/BOA_STAND_IN.json`` marks the folder; outputs
made from it are recorded as ``stand-in`` in the manifest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterable, Sequence

from body_organ_analysis.models.networks import STAND_IN_MARKER, Network, all_networks_for
from body_organ_analysis.models.registry import get_model

PATCH_SIZE = (32, 64, 64)
FEATURES = (4, 8)


def make_standins(directory: Path | str, models: Iterable[str], folds: Sequence[int] | None = None) -> list[Path]:
    """Write stand-ins for every network of ``models`` into ``directory``; return their folders."""
    root = Path(directory)
    names: list[str] = []
    pending = list(models)
    while pending:  # a model's requirements get stand-ins too (bca -> total, body_regions, ...)
        name = get_model(pending.pop(0)).name
        if name not in names:
            names.append(name)
            pending.extend(get_model(name).requires)
    written: list[Path] = []
    for name in names:
        for network in all_networks_for(get_model(name)):
            written.append(make_standin_network(root, network, folds=folds))
    return written


def make_standin_network(root: Path, network: Network, folds: Sequence[int] | None = None) -> Path:
    """Write one stand-in network (skips folds already there)."""
    import torch

    model_dir = network.model_dir(root)
    model_dir.mkdir(parents=True, exist_ok=True)
    (root / network.folder / STAND_IN_MARKER).write_text(
        json.dumps({"stand_in": True, "dataset_id": network.dataset_id, "note": "random weights, for tests"})
    )
    labels = dict(network.labels)
    _write_json(model_dir / "dataset.json", _dataset_json(labels))
    _write_json(model_dir / "plans.json", _plans_json(network))
    fold_ids = list(folds) if folds is not None else list(network.folds or (0,))
    for fold in fold_ids:
        checkpoint = model_dir / f"fold_{fold}" / "checkpoint_final.pth"
        if checkpoint.exists():
            continue
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(network.dataset_id * 100 + int(fold))
        try:
            net = _build_network(num_classes=max(labels) + 1)
            weights = {k: v.clone() for k, v in net.state_dict().items()}
        finally:
            torch.random.set_rng_state(generator_state)
        torch.save(
            {
                "network_weights": weights,
                "trainer_name": network.trainer,
                "init_args": {"configuration": network.configuration, "fold": fold},
                "inference_allowed_mirroring_axes": (0, 1, 2),
            },
            checkpoint,
        )
    return model_dir


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=1))


def _dataset_json(labels: dict[int, str]) -> dict:
    names = {"background": 0}
    for label in range(1, max(labels) + 1):  # nnU-Net needs consecutive ids
        names[labels.get(label, f"unused_{label}")] = label
    return {"channel_names": {"0": "CT"}, "labels": names, "numTraining": 1, "file_ending": ".nii.gz"}


def _architecture() -> dict:
    return {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": len(FEATURES),
            "features_per_stage": list(FEATURES),
            "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": [[3, 3, 3]] * len(FEATURES),
            "strides": [[1, 1, 1]] + [[2, 2, 2]] * (len(FEATURES) - 1),
            "n_conv_per_stage": [1] * len(FEATURES),
            "n_conv_per_stage_decoder": [1] * (len(FEATURES) - 1),
            "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }


def _plans_json(network: Network) -> dict:
    spacing = list(network.spacing_zyx or (3.0, 3.0, 3.0))
    resampling = "resample_data_or_seg_to_shape"
    configuration = {
        "data_identifier": f"nnUNetPlans_{network.configuration}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": list(PATCH_SIZE),
        "median_image_size_in_voxels": [100, 200, 200],
        "spacing": spacing,
        "normalization_schemes": ["CTNormalization"],
        "use_mask_for_norm": [False],
        "resampling_fn_data": resampling,
        "resampling_fn_seg": resampling,
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
        "resampling_fn_probabilities": resampling,
        "resampling_fn_probabilities_kwargs": {
            "is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None,
        },
        "architecture": _architecture(),
        "batch_dice": True,
    }
    return {
        "dataset_name": network.folder,
        "plans_name": network.plans,
        "original_median_spacing_after_transp": spacing,
        "original_median_shape_after_transp": [100, 200, 200],
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": {network.configuration: configuration},
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            "0": {
                "max": 3000.0, "mean": 50.0, "median": 40.0, "min": -1024.0,
                "percentile_00_5": -1000.0, "percentile_99_5": 1500.0, "std": 400.0,
            }
        },
    }  # fmt: skip


def _build_network(num_classes: int):
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from torch import nn

    kwargs = _architecture()["arch_kwargs"]
    return PlainConvUNet(
        input_channels=1,
        n_stages=kwargs["n_stages"],
        features_per_stage=kwargs["features_per_stage"],
        conv_op=nn.Conv3d,
        kernel_sizes=kwargs["kernel_sizes"],
        strides=kwargs["strides"],
        n_conv_per_stage=kwargs["n_conv_per_stage"],
        num_classes=num_classes,
        n_conv_per_stage_decoder=kwargs["n_conv_per_stage_decoder"],
        conv_bias=True,
        norm_op=nn.InstanceNorm3d,
        norm_op_kwargs=kwargs["norm_op_kwargs"],
        nonlin=nn.LeakyReLU,
        nonlin_kwargs=kwargs["nonlin_kwargs"],
        deep_supervision=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tests/helpers/standins.py",
        description="Write tiny stand-in nnU-Net models (random weights, real label sets) for tests.",
    )
    parser.add_argument("--dir", required=True, type=Path, help="weights folder (use as TOTALSEG_WEIGHTS_PATH)")
    parser.add_argument("models", nargs="+", help="registered model names, e.g. total liver_vessels")
    args = parser.parse_args(argv)
    for path in make_standins(args.dir, args.models):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
