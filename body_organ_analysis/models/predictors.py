"""nnU-Net predictors, loaded once per process and reused.

One :class:`nnUNetPredictor` per (model folder, folds, device, tile step):
the first use loads the checkpoints, later uses only predict. The cache keeps
the ``cache_size`` most recently used predictors (``BOA_MODEL_CACHE_SIZE``,
default 8) and is safe across threads. Nothing here starts a process pool:
prediction goes through nnU-Net's sequential path.

Checkpoints are read here, not by nnU-Net: each file is first checked
against the weights manifest (:mod:`weights_manifest`), then unpickled with
``torch.load(weights_only=True)`` and an allow-list of the few numpy types
nnU-Net stores in its training log, so a checkpoint can hold tensors and
plain data but never code.

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
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from body_organ_analysis.errors import DeviceError, ModelError, WeightsError
from body_organ_analysis.models.weights_manifest import verify_files

# Trainers that differ from nnUNetTrainer only in training (epochs, mirroring):
# their inference network is nnUNetTrainer's (e.g. the reference tool's
# nnUNetTrainer_1500epochs_NoMirroring, which nnU-Net does not ship).
TRAINING_ONLY_VARIANT = re.compile(r"^nnUNetTrainer(_\d+epochs)?(_?NoMirroring)?$")

DEFAULT_CACHE_SIZE = 8
CHECKPOINT_FILES = ("plans.json", "dataset.json")

_CACHE: "OrderedDict[tuple, LoadedPredictor]" = OrderedDict()  # least recently used first
_LOCK = threading.RLock()
_cache_size = DEFAULT_CACHE_SIZE


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


def set_cache_size(size: int) -> None:
    """Keep at most ``size`` (>= 1) loaded predictors; the least recently used go first."""
    global _cache_size
    with _LOCK:
        _cache_size = max(1, int(size))
        _evict()


def get_predictor(model_dir: Path, folds: tuple | None, device, tile_step_size: float) -> LoadedPredictor:
    """The cached predictor for this model folder, loading it on first use."""
    key = (str(model_dir.resolve()), folds, str(device), float(tile_step_size))
    with _LOCK:  # one load at a time: two threads never load the same network twice
        loaded = _CACHE.get(key)
        if loaded is None:
            start = time.perf_counter()
            predictor = _load(model_dir, folds, device, tile_step_size)
            loaded = LoadedPredictor(predictor, round(time.perf_counter() - start, 3))
            _CACHE[key] = loaded
        _CACHE.move_to_end(key)
        _evict()
        return loaded


def cached_keys() -> list[tuple]:
    """The cache's keys, least recently used first."""
    with _LOCK:
        return list(_CACHE)


def _evict() -> None:
    while len(_CACHE) > _cache_size:
        _CACHE.popitem(last=False)


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def _safe_globals() -> list:
    """The numpy types a real nnU-Net checkpoint pickles (training log values), nothing executable."""
    import numpy as np

    scalar_types = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                    np.uint64, np.float16, np.float32, np.float64]  # fmt: skip
    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    return [
        core.multiarray.scalar, core.multiarray._reconstruct, np.ndarray, np.dtype,
        *(type(np.dtype(t)) for t in scalar_types),
    ]  # fmt: skip


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's tensors and plain data, never code (``weights_only=True`` with an allow-list)."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(_safe_globals()):
            checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"The checkpoint {path} was refused: it holds objects other than tensors and plain data, or "
            f"is damaged ({first_line[:200]}). Use the published weights: remove {path.parent.parent.parent} "
            "and download it again."
        ) from None
    if not isinstance(checkpoint, dict) or "network_weights" not in checkpoint:
        raise WeightsError(f"The checkpoint {path} is not an nnU-Net checkpoint (no network_weights).")
    return checkpoint


def _load(model_dir: Path, folds: tuple | None, device, tile_step_size: float):
    """Like nnUNetPredictor.initialize_from_trained_model_folder, with our trainer lookup."""
    import sys

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
    names = [*CHECKPOINT_FILES, *(f"fold_{fold}/checkpoint_final.pth" for fold in folds)]
    verify_files(model_dir.parent.parent, model_dir.parent.name, [f"{model_dir.name}/{n}" for n in names])
    dataset_json = load_json(str(model_dir / "dataset.json"))
    plans_manager = PlansManager(load_json(str(model_dir / "plans.json")))
    parameters = []
    trainer_name = configuration = mirror_axes = None
    for index, fold in enumerate(folds):
        fold_name = f"fold_{fold}"
        checkpoint = load_checkpoint(model_dir / fold_name / "checkpoint_final.pth")
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
