"""Trainer lookup without nnU-Net's module walk, device choice, predictor cache."""

from __future__ import annotations

import subprocess
import sys

import pytest

from body_organ_analysis.errors import DeviceError, ModelError
from body_organ_analysis.models.predictors import find_trainer_class, get_predictor, resolve_device


def test_trainer_lookup_imports_only_the_defining_module():
    code = (
        "import sys\n"
        "from body_organ_analysis.models.predictors import find_trainer_class as f\n"
        "names = ['nnUNetTrainer_4000epochs_NoMirroring', 'nnUNetTrainerNoMirroring',\n"
        "         'nnUNetTrainer_DASegOrd0_NoMirroring', 'nnUNetTrainerSkeletonRecall']\n"
        "print([f(n).__name__ for n in names])\n"
        "print('timm' in sys.modules, 'torchvision' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == str(
        ["nnUNetTrainer_4000epochs_NoMirroring", "nnUNetTrainerNoMirroring",
         "nnUNetTrainer_DASegOrd0_NoMirroring", "nnUNetTrainerSkeletonRecall"]
    )  # fmt: skip
    assert lines[-1] == "False False"


def test_training_only_variants_use_the_base_network():
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    assert find_trainer_class("nnUNetTrainer_1500epochs_NoMirroring") is nnUNetTrainer
    with pytest.raises(ModelError, match="nnUNetTrainerFancyResEnc"):
        find_trainer_class("nnUNetTrainerFancyResEnc")


def test_device_choice():
    import torch

    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("gpu:0") == torch.device("cuda:0")
        with pytest.raises(DeviceError):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        assert resolve_device("auto") == torch.device("cpu")
        for name in ("gpu", "cuda", "gpu:1", "cuda:0"):
            with pytest.raises(DeviceError, match="-d cpu"):
                resolve_device(name)


def test_predictor_is_loaded_once(standin_weights):
    from body_organ_analysis.models.networks import networks_for
    from body_organ_analysis.models.registry import get_model

    (network,) = networks_for(get_model("body_parts"), fast_bca=True)
    first = get_predictor(network.model_dir(standin_weights), network.folds, resolve_device("cpu"), 0.5)
    again = get_predictor(network.model_dir(standin_weights), network.folds, resolve_device("cpu"), 0.5)
    assert again is first
    assert len(first.predictor.list_of_parameters) == 1
