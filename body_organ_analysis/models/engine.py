"""The nnU-Net engine: one registered model -> one label map on the CT grid.

TotalSegmentator tasks go through :mod:`ts_inference` (TotalSegmentator's own
pre/postprocessing, cached in-process predictors); the body-composition
networks through :mod:`bca_inference`. Each call returns the label map and a
record for the manifest (weights used, stand-in or not, load and inference
times, device).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from body_organ_analysis.console import log
from body_organ_analysis.errors import ModelError
from body_organ_analysis.imaging.volume import CTVolume
from body_organ_analysis.labelmap import LabelMap
from body_organ_analysis.models.networks import networks_for
from body_organ_analysis.models.predictors import resolve_device, set_cache_size
from body_organ_analysis.models.registry import ModelSpec
from body_organ_analysis.settings import Settings


def predict_model(
    spec: ModelSpec, ct: CTVolume, settings: Settings, labelmaps: dict[str, LabelMap]
) -> tuple[LabelMap, dict[str, Any]]:
    from body_organ_analysis.models.weights import weights_root

    import torch

    device = resolve_device(settings.runtime.device)
    set_cache_size(settings.runtime.model_cache_size)
    root = weights_root(settings.runtime)
    fast = settings.fast_total and spec.has_fast_variant
    networks = networks_for(spec, fast=fast, fast_bca=settings.fast_bca)
    start = time.perf_counter()
    with torch.inference_mode():
        if spec.engine == "bca":
            from body_organ_analysis.models.bca_inference import run_bca_model

            data, run = run_bca_model(ct, spec.name, networks[0], root, device)
        else:
            from body_organ_analysis.models.ts_inference import run_task

            config = spec.task_config(fast=fast)
            total = labelmaps.get("total")
            if (config.get("crop") or config.get("remove_outside")) and total is None:
                raise ModelError(f"Model {spec.name!r} crops to the 'total' map; run it with -m total+{spec.name}.")
            data, run = run_task(
                ct.to_nifti(), spec.task or spec.name, config, networks, root, device,
                total_map=None if total is None else np.asarray(total.data),
            )  # fmt: skip
    elapsed = time.perf_counter() - start
    stand_in = any(n.stand_in for n in run.networks)
    origin = "stand-in" if stand_in else "inference"
    labels = spec.labels()
    present = int(np.count_nonzero(np.unique(data)))
    log.info(
        "%s: %d of %d labels present; load %.1f s, inference %.1f s on %s%s",
        spec.name, present, len(labels), run.load_time_s, run.inference_time_s, device,
        " (stand-in weights)" if stand_in else "",
    )  # fmt: skip
    record: dict[str, Any] = {
        "origin": origin,
        "engine": "nnunet",
        "variant": "fast" if fast else "default",
        "device": str(device),
        "weights": [
            {
                "folder": n.folder,
                "trainer": n.trainer_dir,
                "folds": n.folds,
                "stand_in": n.stand_in,
                "load_time_s": n.load_time_s,
                "loaded_before": n.cached,
                "inference_time_s": n.inference_time_s,
            }
            for n in run.networks
        ],
        "load_time_s": run.load_time_s,
        "inference_time_s": run.inference_time_s,
        "model_time_s": round(elapsed, 3),
    }
    dtype = np.uint8 if max(labels) < 256 else np.uint16
    label_map = LabelMap(
        data=data.astype(dtype, copy=False), affine=ct.affine.copy(), labels=labels, model=spec.name, origin=origin
    )
    return label_map, record
