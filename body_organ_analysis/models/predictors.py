"""nnU-Net predictors, loaded once per process and reused.

One :class:`nnUNetPredictor` per (model folder, folds, device, tile step):
the first use loads the checkpoints, later uses only predict. Nothing here
starts a process pool: prediction goes through nnU-Net's sequential path.

nnU-Net finds a checkpoint's trainer class by importing every trainer module
it ships, which walks into optional packages (timm -> torchvision) and fails
when they do not match torch. Here the class is found by reading the source
files for ``class <name>(`` and importing only that module.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from body_organ_analysis.errors import DeviceError, ModelError

# Trainers that differ from nnUNetTrainer only in training (epochs, mirroring):
# their inference network is nnUNetTrainer's (e.g. the reference tool's
# nnUNetTrainer_1500epochs_NoMirroring, which nnU-Net does not ship).
TRAINING_ONLY_VARIANT = re.compile(r"^nnUNetTrainer(_\d+epochs)?(_?NoMirroring)?$")

_CACHE: dict[tuple, "LoadedPredictor"] = {}
_LOCK = threading.RLock()


@dataclass
class LoadedPredictor:
    predictor: Any  # nnunetv2.inference.predict_from_raw_data.nnUNetPredictor
    load_time_s: float
    uses: int = 0


def resolve_device(device: str):
    """'auto', 'cpu', 'gpu', 'cuda', 'gpu:N', 'cuda:N' -> torch.device; clear error without GPU."""
    import torch

    if device == "cpu":
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    index = int(device.split(":")[1]) if ":" in device else 0
    if not torch.cuda.is_available():
        raise DeviceError(
            f"Device {device!r} was asked for, but no CUDA GPU is available on this machine. "
            "Use -d cpu (or DEVICE=cpu), or -d auto to take a GPU only when there is one."
        )
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"Device {device!r} was asked for, but this machine has {torch.cuda.device_count()} "
            f"GPU(s) (cuda:0..cuda:{torch.cuda.device_count() - 1}). Choose one of them or cpu."
        )
    return torch.device(f"cuda:{index}")


def find_trainer_class(name: str):
    """The trainer class called ``name``, importing only the module that defines it."""
    from totalsegmentator import custom_trainers

    if hasattr(custom_trainers, name):  # TotalSegmentator's own trainers
        return getattr(custom_trainers, name)
    import nnunetv2

    package_root = Path(nnunetv2.__file__).parent
    pattern = re.compile(rf"^class {re.escape(name)}\(", re.MULTILINE)
    for path in sorted((package_root / "training" / "nnUNetTrainer").rglob("*.py")):
        if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
            module = ".".join(("nnunetv2", *path.relative_to(package_root).with_suffix("").parts))
            return getattr(importlib.import_module(module), name)
    if TRAINING_ONLY_VARIANT.match(name):
        from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

        return nnUNetTrainer
    raise ModelError(
        f"The weights name the nnU-Net trainer {name!r}, which neither nnU-Net nor TotalSegmentator "
        "provides. Install the package that defines it, or use weights trained with a standard trainer."
    )


def get_predictor(model_dir: Path, folds: tuple | None, device, tile_step_size: float) -> LoadedPredictor:
    """The cached predictor for this model folder, loading it on first use."""
    key = (str(model_dir.resolve()), folds, str(device), float(tile_step_size))
    with _LOCK:
        loaded = _CACHE.get(key)
        if loaded is None:
            start = time.perf_counter()
            predictor = _load(model_dir, folds, device, tile_step_size)
            loaded = LoadedPredictor(predictor, round(time.perf_counter() - start, 3))
            _CACHE[key] = loaded
        return loaded


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def _load(model_dir: Path, folds: tuple | None, device, tile_step_size: float):
    """Like nnUNetPredictor.initialize_from_trained_model_folder, with our trainer lookup."""
    import sys

    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    if folds is None:
        folds = tuple(
            sorted(int(p.parent.name.split("_")[1]) for p in model_dir.glob("fold_[0-9]*/checkpoint_final.pth"))
        )
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a note about CPU devices
        predictor = nnUNetPredictor(
            tile_step_size=tile_step_size,
            use_gaussian=True,
            use_mirroring=False,  # TotalSegmentator predicts without test-time mirroring
            perform_everything_on_device=device.type == "cuda",
            device=device,
            verbose=False,
            verbose_preprocessing=False,
            allow_tqdm=sys.stderr.isatty(),
        )
    dataset_json = load_json(str(model_dir / "dataset.json"))
    plans_manager = PlansManager(load_json(str(model_dir / "plans.json")))
    parameters = []
    trainer_name = configuration = mirror_axes = None
    for index, fold in enumerate(folds):
        fold_name = f"fold_{fold}"
        checkpoint = torch.load(
            str(model_dir / fold_name / "checkpoint_final.pth"), map_location="cpu", weights_only=False
        )
        if index == 0:
            trainer_name = checkpoint["trainer_name"]
            configuration = checkpoint["init_args"]["configuration"]
            mirror_axes = checkpoint.get("inference_allowed_mirroring_axes")
        parameters.append(checkpoint["network_weights"])
    configuration_manager = plans_manager.get_configuration(configuration)
    trainer_class = find_trainer_class(trainer_name)
    channels_in = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
    channels_out = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
    if "plans_manager" in inspect.signature(trainer_class.build_network_architecture).parameters:
        network = trainer_class.build_network_architecture(
            plans_manager, configuration_manager, channels_in, channels_out, enable_deep_supervision=False
        )
    else:  # the older signature some custom trainers keep
        network = trainer_class.build_network_architecture(
            configuration_manager.network_arch_class_name,
            configuration_manager.network_arch_init_kwargs,
            configuration_manager.network_arch_init_kwargs_req_import,
            channels_in,
            channels_out,
            enable_deep_supervision=False,
        )
    network.load_state_dict(parameters[0])
    predictor.manual_initialization(
        network, plans_manager, configuration_manager, parameters, dataset_json, trainer_name, mirror_axes
    )
    return predictor
