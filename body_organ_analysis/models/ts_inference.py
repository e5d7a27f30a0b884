"""Run a TotalSegmentator task in this process, exactly as TotalSegmentator does.

TotalSegmentator's ``nnUNet_predict_image`` does the pre- and postprocessing
(crop to the mask with its margin, canonical orientation, resampling to the
model spacing, the five-part 1.5 mm ``total``, tile step size, task-specific
postprocessing, resampling back and undoing the crop). It is called as is;
only its prediction call, ``totalsegmentator.nnunet.nnUNetv2_predict`` (which
reloads the weights and starts spawn-based process pools on every call), is
replaced for the duration of the call by :func:`_predict_folder`: the cached
predictor of :mod:`body_organ_analysis.models.predictors`, run sequentially.

What ``totalsegmentator.python_api.totalsegmentator`` adds around it is done
here too, with one change: crop tasks take their crop (and ``remove_outside``)
mask from the ``total`` map of this run instead of a separate rough model.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import nibabel as nib
import numpy as np

from body_organ_analysis.models.networks import Network
from body_organ_analysis.models.predictors import get_predictor

_PATCH_LOCK = threading.Lock()  # the patch is module-global: one TotalSegmentator call at a time


@dataclass
class NetworkRun:
    folder: str
    trainer_dir: str
    folds: list[int] | None
    stand_in: bool
    load_time_s: float
    cached: bool
    inference_time_s: float = 0.0


@dataclass
class TaskRun:
    """What one task call did, for the manifest."""

    networks: list[NetworkRun] = field(default_factory=list)

    @property
    def load_time_s(self) -> float:
        return round(sum(n.load_time_s for n in self.networks if not n.cached), 3)

    @property
    def inference_time_s(self) -> float:
        return round(sum(n.inference_time_s for n in self.networks), 3)


def crop_addon_for(config: dict) -> list[int] | None:
    """TotalSegmentator's python API margin: [20, 20, 20] unless the task has its own crop model."""
    if config.get("crop") is None:
        return config.get("crop_addon")
    return [20, 20, 20] if config.get("crop_model") is None else config.get("crop_addon")


def mask_from_total(total: np.ndarray, affine: np.ndarray, names: list[str]) -> nib.Nifti1Image:
    """Binary mask of ``names`` (``total`` label names) as TotalSegmentator builds its crop."""
    from totalsegmentator.map_to_binary import class_map

    ids = {name: label for label, name in class_map["total"].items()}
    mask = np.isin(total, [ids[name] for name in names]).astype(np.uint8)
    return nib.Nifti1Image(mask, affine)


def run_task(
    image: nib.Nifti1Image,
    task: str,
    config: dict,
    networks: list[Network],
    weights_root: Path,
    device: Any,
    total_map: np.ndarray | None = None,
) -> tuple[np.ndarray, TaskRun]:
    """Label map of TotalSegmentator task ``task`` on ``image``'s grid (uint8)."""
    from totalsegmentator import nnunet as ts_nnunet

    crop = remove_mask = None
    if config.get("crop") is not None or config.get("remove_outside") is not None:
        if total_map is None:
            raise ValueError(f"task {task!r} crops to the 'total' map, which was not given")
        if config.get("crop") is not None:
            crop = mask_from_total(total_map, image.affine, list(config["crop"]))
        if config.get("remove_outside") is not None:
            remove_mask = mask_from_total(total_map, image.affine, list(config["remove_outside"]))
    by_id = {n.dataset_id: n for n in networks}
    run = TaskRun()

    def predict_folder(dir_in, dir_out, task_id, model, folds, trainer, tta, *args, **kwargs) -> None:
        network = by_id[int(task_id)]
        loaded = get_predictor(
            network.model_dir(weights_root),
            tuple(folds) if folds is not None else None,
            device,
            kwargs.get("step_size", 0.5),
        )
        record = NetworkRun(
            folder=network.folder,
            trainer_dir=network.trainer_dir,
            folds=list(folds) if folds is not None else None,
            stand_in=network.is_stand_in(weights_root),
            load_time_s=loaded.load_time_s,
            cached=loaded.uses > 0,
        )
        loaded.uses += 1
        start = time.perf_counter()
        # explicit file lists: given a folder, nnU-Net lists it with a process pool
        cases = sorted(p.name[: -len("_0000.nii.gz")] for p in Path(dir_in).glob("*_0000.nii.gz"))
        loaded.predictor.predict_from_files_sequential(
            [[str(Path(dir_in) / f"{case}_0000.nii.gz")] for case in cases],
            [str(Path(dir_out) / case) for case in cases],
            save_probabilities=False,
            overwrite=True,
        )
        record.inference_time_s = round(time.perf_counter() - start, 3)
        run.networks.append(record)

    device_arg = device if device.type == "cuda" else "cpu"
    with _PATCH_LOCK, _patched(ts_nnunet, "nnUNetv2_predict", predict_folder):
        seg_img, _, _ = ts_nnunet.nnUNet_predict_image(
            image, None, config["task_id"],
            model=config["model"], folds=config["folds"], trainer=config["trainer"], tta=False,
            multilabel_image=True, resample=config["resample"], crop=crop, crop_path=None,
            task_name=task, nora_tag="None", preview=False, nr_threads_resampling=1,
            nr_threads_saving=1, force_split=False, crop_addon=crop_addon_for(config),
            roi_subset=None, output_type="nifti", statistics=False, quiet=True, verbose=False,
            test=0, skip_saving=True, device=device_arg, remove_small_blobs=False,
            cascade=None, remove_outside_mask=remove_mask,
            remove_outside_dilation=config.get("remove_outside_dilation"),
            plans=config.get("plans") or "nnUNetPlans", resampling_order=1,
            output_task_name=task,
        )  # fmt: skip
    return np.asarray(seg_img.dataobj).astype(np.uint8), run


@contextlib.contextmanager
def _patched(module: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)
